"""Spans as the demo's OTLP sink received them, and the indented tree of one trace (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

# Long names (SQL statements) are cut so that a span's line, indent included, fits in 100
# columns next to the service and the times.
MAX_LABEL = 52


@dataclass(frozen=True)
class Span:
    """One finished span: ids as lowercase hex, times in nanoseconds since the epoch."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    service: str
    start_ns: int
    end_ns: int
    attributes: Mapping[str, str] = field(default_factory=dict)

    @property
    def duration_ns(self) -> int:
        """How long the span lasted."""
        return max(0, self.end_ns - self.start_ns)


@dataclass
class SpanNode:
    """A span and its children, ordered by start time."""

    span: Span
    children: list[SpanNode] = field(default_factory=list)


def build_tree(spans: Iterable[Span]) -> list[SpanNode]:
    """The trees of a set of spans, roots first by start time.

    A span whose parent did not arrive (or is the caller's, outside the trace) becomes a root;
    a span received twice counts once.
    """
    nodes: dict[str, SpanNode] = {}
    for span in spans:
        nodes.setdefault(span.span_id, SpanNode(span))
    roots: list[SpanNode] = []
    for node in nodes.values():
        parent = nodes.get(node.span.parent_span_id or "")
        if parent is None or parent is node:
            roots.append(node)
        else:
            parent.children.append(node)
    # Spans in a parent loop are reachable from no root: break the loop by promoting them.
    reached = {id(node) for root in roots for node in walk(root)}
    for node in nodes.values():
        if id(node) not in reached:
            roots.append(node)
            reached.update(id(child) for child in walk(node))
    for node in nodes.values():
        node.children.sort(key=_start_order)
    return sorted(roots, key=_start_order)


def walk(root: SpanNode) -> list[SpanNode]:
    """Every node under `root`, root included, depth first; each node once."""
    return [node for _, node in _depths(root)]


def render_tree(roots: list[SpanNode]) -> list[str]:
    """The trees as aligned lines: service, indented span name, start offset, duration."""
    rows = [(depth, node.span) for root in roots for depth, node in _depths(root)]
    if not rows:
        return []
    origin = min(span.start_ns for _, span in rows)
    service_width = max(len("service"), *(len(span.service) for _, span in rows))
    labels = [("  " * depth) + short_name(span.name, MAX_LABEL - 2 * depth) for depth, span in rows]
    label_width = max(len("span"), *(len(label) for label in labels))
    lines = [f"{'service':<{service_width}}  {'span':<{label_width}}  {'start':>10}  {'took':>10}"]
    for (_, span), label in zip(rows, labels, strict=True):
        offset = "+" + format_ms(span.start_ns - origin)
        lines.append(
            f"{span.service:<{service_width}}  {label:<{label_width}}  "
            f"{offset:>10}  {format_ms(span.duration_ns):>10}"
        )
    return lines


def _depths(root: SpanNode) -> list[tuple[int, SpanNode]]:
    found: list[tuple[int, SpanNode]] = []
    seen: set[int] = set()
    stack = [(0, root)]
    while stack:
        depth, node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        found.append((depth, node))
        stack.extend((depth + 1, child) for child in reversed(node.children))
    return found


def short_name(name: str, width: int = MAX_LABEL) -> str:
    """A span name on one line, cut to `width` characters (never below 12)."""
    flat = " ".join(name.split()) or "(unnamed)"
    width = max(width, 12)
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def format_ms(nanoseconds: int) -> str:
    """A duration in milliseconds: two decimals below 1 ms, one above."""
    millis = nanoseconds / 1_000_000
    return f"{millis:.2f} ms" if millis < 1 else f"{millis:.1f} ms"


def services_of(spans: Iterable[Span]) -> dict[str, int]:
    """How many spans each service sent, by service name."""
    counts: dict[str, int] = {}
    for span in spans:
        counts[span.service] = counts.get(span.service, 0) + 1
    return dict(sorted(counts.items()))


def traces_mentioning(spans: Iterable[Span], value: str) -> set[str]:
    """Ids of the traces holding a span with an attribute equal to `value` (an order id)."""
    return {span.trace_id for span in spans if value in span.attributes.values()}


def _start_order(node: SpanNode) -> tuple[int, str]:
    return (node.span.start_ns, node.span.name)
