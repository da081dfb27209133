"""What the demo found, the checks that it adds up, and the summary it prints (pure)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

# What inventory's view of an order is once the order service has its final status.
INVENTORY_VIEW = {"confirmed": "reserved", "rejected": "rejected", "cancelled": "released"}


@dataclass(frozen=True)
class PipelineCounts:
    """The events of this run at each step: outbox, topic, inventory."""

    written: int  # outbox rows of the run's orders
    published: int  # records of the run's orders on the topic, read with read_committed
    distinct_published: int  # of those, distinct event ids (fewer means duplicates)
    consumed: int  # processed_events rows of the run's event ids
    marked: int | None = None  # outbox rows with published_at set (polling relay only)

    def problems(self, *, expected_written: int) -> list[str]:
        """What does not add up, one sentence each; empty once every accepted order's event is
        written, on the topic once, applied once (and marked)."""
        found = []
        if self.written != expected_written:
            found.append(f"{expected_written} orders accepted but {self.written} outbox rows")
        if self.published != self.written:
            found.append(f"{self.written} outbox rows written but {self.published} published")
        if self.distinct_published != self.published:
            found.append(f"{self.published - self.distinct_published} duplicate records on the "
                         "topic")
        if self.consumed != self.published:
            found.append(f"{self.published} events published but {self.consumed} consumed")
        if self.marked is not None and self.marked != self.written:
            found.append(f"{self.written} outbox rows written but {self.marked} marked published")
        return found

    def progress(self) -> str:
        """One short progress line."""
        marked = "" if self.marked is None else f", marked {self.marked}"
        return (f"written {self.written}, published {self.published}{marked}, "
                f"consumed {self.consumed}")


@dataclass(frozen=True)
class StockRow:
    """One SKU: stock before and after the run, and what this run's orders reserved of it."""

    sku: str
    before: int
    after: int
    reserved: int  # reservation lines of the run's orders (inventory database)
    expected: int  # lines of the accepted orders that inventory reserved

    @property
    def ok(self) -> bool:
        """The stock went down by exactly what was reserved, as the orders asked."""
        return self.before - self.after == self.reserved == self.expected


@dataclass
class DemoResult:
    """Everything the summary reports."""

    accepted: dict[str, dict[str, int]]  # order id -> sku -> quantity, for each 201
    refused: list[tuple[int, str]]  # (status, error body) for each 4xx at the API
    outcomes: dict[str, tuple[str, str | None]]  # order id -> (reserved|rejected, reason)
    counts: PipelineCounts
    stock_before: dict[str, int]
    stock_after: dict[str, int]
    reserved_lines: dict[str, int]  # sku -> units still held, from the inventory database
    statuses: dict[str, str] = field(default_factory=dict)  # order id -> order service's status
    cancelled: list[str] = field(default_factory=list)  # orders whose cancellation was accepted

    def stock_rows(self) -> list[StockRow]:
        """One row per SKU seeded."""
        expected = expected_reserved(self.accepted, self.outcomes)
        return [
            StockRow(sku, before, self.stock_after.get(sku, -1),
                     self.reserved_lines.get(sku, 0), expected.get(sku, 0))
            for sku, before in sorted(self.stock_before.items())
        ]

    def problems(self) -> list[str]:
        """Every check that failed, one sentence each; empty when it all adds up."""
        # One OrderCreated per accepted order, one OrderCancelled per cancellation.
        found = self.counts.problems(expected_written=len(self.accepted) + len(self.cancelled))
        pending = [order_id for order_id in self.accepted if order_id not in self.outcomes]
        if pending:
            found.append(f"{len(pending)} accepted orders have no inventory outcome "
                         f"(first: {pending[0]})")
        if self.statuses:
            unlike = [order_id for order_id in self.accepted
                      if INVENTORY_VIEW.get(self.statuses.get(order_id, ""))
                      != self.outcomes.get(order_id, ("", None))[0]]
            if unlike:
                first = unlike[0]
                found.append(
                    f"{len(unlike)} orders whose status does not match inventory's view "
                    f"(first: {first} is {self.statuses.get(first, 'unknown')}, inventory says "
                    f"{self.outcomes.get(first, ('nothing', None))[0]})")
        for row in self.stock_rows():
            if not row.ok:
                found.append(f"{row.sku}: stock went from {row.before} to {row.after} "
                             f"(-{row.before - row.after}) but {row.reserved} units are "
                             f"reserved and the reserved orders asked for {row.expected}")
        return found


def expected_reserved(
    accepted: Mapping[str, Mapping[str, int]],
    outcomes: Mapping[str, tuple[str, str | None]],
) -> dict[str, int]:
    """Units per SKU of the accepted orders that inventory reserved."""
    totals: Counter[str] = Counter()
    for order_id, lines in accepted.items():
        if outcomes.get(order_id, ("", None))[0] == "reserved":
            totals.update(lines)
    return dict(totals)


def reason_kind(reason: str | None) -> str:
    """A rejection reason without its numbers: `not enough stock for SKU-1`."""
    return (reason or "no reason given").split(":")[0]


def render_summary(result: DemoResult, *, topic: str) -> list[str]:
    """The summary's lines (the trace is printed separately)."""
    statuses = Counter(status for status, _ in result.outcomes.values())
    reasons = Counter(reason_kind(reason) for status, reason in result.outcomes.values()
                      if status == "rejected")
    refused = Counter(status for status, _ in result.refused)
    counts = result.counts
    final = Counter(result.statuses.values())
    lines = [
        "Orders",
        _row("accepted by the order service (201)", len(result.accepted)),
    ]
    for status, view in INVENTORY_VIEW.items():
        if result.statuses:
            lines.append(_pair(f"  {status} / {view}", final[status], statuses[view]))
        elif view != "released":
            lines.append(_row(f"  {view} by inventory", statuses[view]))
        if view == "rejected":
            lines += [_row(f"    {kind}", n) for kind, n in sorted(reasons.items())]
    lines += [
        _row("refused at the API (4xx)", len(result.refused),
             ", ".join(f"{n} x {status}" for status, n in sorted(refused.items()))),
        "",
        f"Events ({topic})",
        _row("outbox rows written", counts.written),
        _row("published (records on the topic)", counts.published,
             f"read_committed; {counts.published - counts.distinct_published} duplicates"),
    ]
    if counts.marked is not None:
        lines.append(_row("outbox rows marked published", counts.marked))
    lines += [
        _row("consumed (processed_events rows)", counts.consumed),
        "",
        "Stock",
        f"  {'sku':<14}{'before':>8}{'after':>8}{'change':>8}{'reserved':>10}  check",
    ]
    for row in result.stock_rows():
        check = "ok" if row.ok else f"MISMATCH (orders asked for {row.expected})"
        lines.append(f"  {row.sku:<14}{row.before:>8}{row.after:>8}"
                     f"{row.after - row.before:>+8}{row.reserved:>10}  {check}")
    return lines


def _pair(label: str, orders: int, inventory: int) -> str:
    # One final status, counted in the order service and in inventory's view of the orders.
    return (f"  {label:<38}{orders:>5}   (order service; inventory: {inventory}"
            f"{'' if orders == inventory else ', MISMATCH'})")


def _row(label: str, value: int, note: str = "") -> str:
    return f"  {label:<38}{value:>5}" + (f"   ({note})" if note else "")
