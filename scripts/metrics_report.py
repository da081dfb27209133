"""The demo's last look: the few figures that matter, read from each service's `/metrics`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

OUTCOMES = ("applied", "duplicate", "skipped", "dead_lettered")


@dataclass(frozen=True)
class Figures:
    """What one service's `/metrics` says of its outbox, its reader and (relay) its topics."""

    service: str
    samples: list[tuple[str, dict[str, str], float]]

    def total(self, name: str, **labels: str) -> float:
        return sum(value for sample, sample_labels, value in self.samples
                   if sample == name and labels.items() <= sample_labels.items())

    def has(self, name: str) -> bool:
        return any(sample == name for sample, _labels, _value in self.samples)

    @property
    def settled(self) -> bool:
        """Nothing waits in its outbox and its reader has read everything."""
        return (self.total("outbox_pending_events") == 0
                and self.total("inbox_lag_records") == 0)

    def lines(self) -> list[str]:
        parts = []
        if self.has("outbox_pending_events"):
            parts.append(f"outbox backlog {self.total('outbox_pending_events'):.0f}")
        if self.has("inbox_lag_records"):
            parts.append(f"lag {self.total('inbox_lag_records'):.0f}")
        if self.has("inbox_events_total"):
            parts.append(", ".join(
                f"{outcome} {self.total('inbox_events_total', outcome=outcome):.0f}"
                for outcome in OUTCOMES))
        published = sorted({labels["topic"] for sample, labels, _value in self.samples
                            if sample == "relay_events_published_total"})
        if published:
            parts.append("published " + ", ".join(
                f"{topic} {self.total('relay_events_published_total', topic=topic):.0f}"
                for topic in published))
        return [f"  {self.service}: " + "; ".join(parts)]


async def read_figures(session: aiohttp.ClientSession, service: str, url: str) -> Figures:
    """Scrape `url`/metrics once."""
    async with session.get(f"{url}/metrics") as response:
        response.raise_for_status()
        text = await response.text()
    return Figures(service, [(sample.name, dict(sample.labels), sample.value)
                             for family in text_string_to_metric_families(text)
                             for sample in family.samples])


async def settled_figures(services: Sequence[tuple[str, str]], *,
                          within: float) -> list[Figures]:
    """Scrape every service until each reads backlog 0 and lag 0 (or `within` seconds pass).

    In Debezium mode the backlog falls to 0 only once the slot confirms, a second or two
    after the records reached Kafka.
    """
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        while True:
            figures = [await read_figures(session, service, url) for service, url in services]
            if all(figure.settled for figure in figures) or time.monotonic() > deadline:
                return figures
            await asyncio.sleep(0.5)
