"""Waiting, with a deadline, for the events to go through and for an order's spans to arrive."""

from __future__ import annotations

import asyncio
import sys
import time

import aiopg

from scripts import observe
from scripts.otlp_sink import OtlpSink
from scripts.progress import Progress
from scripts.spans import Span
from scripts.summary import PipelineCounts
from scripts.trace_report import choose_trace, missing_services, trace_id_of


async def wait_for_pipeline(
    orders_db: aiopg.Pool, inventory_db: aiopg.Pool, tally: observe.TopicTally,
    order_ids: list[str], within: float, *, count_marked: bool, events: int | None = None,
) -> PipelineCounts:
    """Poll the counts until `events` (one per order unless given) are written, published
    and consumed, or the deadline."""
    progress = Progress(sys.stdout)
    started = time.monotonic()
    while True:
        counts = await observe.pipeline_counts(
            orders_db, inventory_db, tally, order_ids, count_marked=count_marked)
        elapsed = time.monotonic() - started
        if not counts.problems(expected_written=events or len(order_ids)):
            progress.done(f"  {counts.progress()}: all there after {elapsed:.1f}s")
            return counts
        if elapsed > within:
            progress.done(f"  {counts.progress()}: still not settled after {within:.0f}s")
            return counts
        progress.update(f"  {counts.progress()}")
        await asyncio.sleep(0.25)


async def wait_for_statuses(
    orders_db: aiopg.Pool, order_ids: list[str], done: frozenset[str], within: float
) -> dict[str, str]:
    """Poll the order service's statuses until every order has one of `done`, or the deadline."""
    started = time.monotonic()
    while True:
        statuses = await observe.order_statuses(orders_db, order_ids)
        waiting = [order_id for order_id in order_ids if statuses.get(order_id) not in done]
        if not waiting or time.monotonic() - started > within:
            return statuses
        await asyncio.sleep(0.25)


async def wait_for_trace(
    sink: OtlpSink, orders_db: aiopg.Pool, order_id: str, posted: str | None,
    expected: list[str], *, within: float = 15.0, quiet: float = 1.0,
) -> tuple[str | None, list[Span]]:
    """The order's trace once every service sent spans and none came for `quiet` seconds."""
    stored = trace_id_of(await observe.outbox_traceparent(orders_db, order_id))
    started = last_change = time.monotonic()
    last_count = -1
    while True:
        trace_id = choose_trace(sink.spans, order_id, [posted, stored])
        spans = sink.trace(trace_id) if trace_id else []
        now = time.monotonic()
        if len(spans) != last_count:
            last_change, last_count = now, len(spans)
        complete = spans and not missing_services(spans, expected)
        # No span at all from any service by now: tracing is off, waiting longer is pointless.
        silent = not sink.spans and now - started > 3.0
        if (complete and now - last_change >= quiet) or silent or now - started > within:
            return trace_id, spans
        await asyncio.sleep(0.2)
