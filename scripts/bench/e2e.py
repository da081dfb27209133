"""End-to-end latency: an order's commit to its stock change's commit (one way), and to the
order service having it `confirmed` (the round trip), at a fixed offered load.

Open loop: orders are scheduled on a fixed timetable (`rate` per second) and each is placed by
a task of its own with `services.order.handlers.place_order` against the orders database; the
generator never waits for an answer (when it wakes late it sends every order that is due).
Both commit times are stamped inside PostgreSQL by deferred triggers (`world.COMMIT_STAMP`):
the order's in the orders database, its stock change's in the inventory database, by the same
clock. A busy load generator, which sees its own commits late, changes neither.

Where the time goes, order by order, from what the services write anyway (`STAGES`): the
relay marks a row `published_at` once its Kafka transaction has committed (Debezium marks
nothing), and the inventory's statement stamps `processed_at` as it starts. The round trip
ends at the `confirmed` row of `order_status_history`, stamped by the order service inside the
transaction that applies the answer (a little before its commit).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiopg

from scripts.bench.outbox import SKUS
from services.order.handlers import place_order
from services.order.models import PlaceOrder
from shared.events import OrderLine

CpuProbe = Callable[[], float]

# The stages of an order's way, each ending at a time stamped in a database:
STAGES = (
    "relay",      # order commit -> its outbox row marked published (the Kafka commit is done)
    "delivery",   # -> the inventory's statement starts (Kafka, the consumer, the batch queue)
    "inventory",  # -> the stock change commits (one statement for the batch)
)


@dataclass
class Load:
    """What one open-loop run did and saw."""

    offered_rate: float
    orders: int
    failures: int
    generator_seconds: float  # first to last scheduled send
    commit_seconds: float  # first to last order commit
    latencies_ms: list[float] = field(default_factory=list)
    round_trips_ms: list[float] = field(default_factory=list)  # order commit -> `confirmed`
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    # STAGES' durations (ms) of the orders that have every stamp; none under Debezium
    stages_ms: dict[str, list[float]] = field(default_factory=dict)

    @property
    def achieved_rate(self) -> float:
        return self.orders / self.commit_seconds if self.commit_seconds > 0 else 0.0

    def cpu_per_1000(self, name: str) -> float:
        return self.cpu_seconds[name] / self.orders * 1000 if self.orders else 0.0


def _request(index: int) -> PlaceOrder:
    return PlaceOrder(customer_id=f"bench-c{index % 1000}",
                      items=[OrderLine(sku=f"BENCH-{index % SKUS}", quantity=1)])


async def open_loop(orders_pool: aiopg.Pool, rate: float, seconds: float
                    ) -> tuple[list[uuid.UUID], int, float]:
    """Place `rate * seconds` orders on a fixed timetable: the ids of those placed, how many
    failed, and the seconds from the first send to the last."""
    placed: list[uuid.UUID] = []
    failures = 0

    async def one(index: int) -> None:
        nonlocal failures
        try:
            outcome = await place_order(orders_pool, _request(index))
        except Exception:
            failures += 1
            return
        placed.append(outcome.order.order_id)

    total = max(1, int(rate * seconds))
    tasks: list[asyncio.Task[None]] = []
    start = time.monotonic()
    sent = 0
    while sent < total:
        now = time.monotonic()
        due = min(total, int((now - start) * rate) + 1)
        while sent < due:
            tasks.append(asyncio.create_task(one(sent)))
            sent += 1
        next_at = start + sent / rate
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    generator_seconds = time.monotonic() - start
    await asyncio.gather(*tasks)
    return placed, failures, generator_seconds


async def commit_stamps(pool: aiopg.Pool, order_ids: list[uuid.UUID]) -> dict[uuid.UUID, float]:
    """The stamped commit times (epoch seconds) of those orders that have one in this database."""
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute(
            "SELECT order_id, extract(epoch FROM committed_at)::float8 FROM bench_commits"
            " WHERE order_id = ANY(%(ids)s::uuid[])", {"ids": order_ids})
        return {row[0]: float(row[1]) for row in await cur.fetchall()}


async def stage_stamps(
    orders_pool: aiopg.Pool, inventory_pool: aiopg.Pool, order_ids: list[uuid.UUID]
) -> tuple[dict[str, float], dict[uuid.UUID, float]]:
    """When each order's outbox row was marked published (by aggregate id; absent if never)
    and when the inventory's statement applying it started (by order id)."""
    async with orders_pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute(
            "SELECT aggregate_id, extract(epoch FROM published_at)::float8 FROM outbox"
            " WHERE aggregate_id = ANY(%(ids)s::text[]) AND published_at IS NOT NULL",
            {"ids": [str(order_id) for order_id in order_ids]})
        published = {row[0]: float(row[1]) for row in await cur.fetchall()}
    async with inventory_pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute(
            "SELECT r.order_id, extract(epoch FROM p.processed_at)::float8"
            " FROM reservations r JOIN processed_events p USING (event_id)"
            " WHERE r.order_id = ANY(%(ids)s::uuid[])", {"ids": order_ids})
        started = {row[0]: float(row[1]) for row in await cur.fetchall()}
    return published, started


def stage_durations(committed: dict[uuid.UUID, float], published: dict[str, float],
                    started: dict[uuid.UUID, float], stocked: dict[uuid.UUID, float]
                    ) -> dict[str, list[float]]:
    """Each stage's duration (ms), for the orders stamped at every stage."""
    stages: dict[str, list[float]] = {name: [] for name in STAGES}
    for order_id, stock_at in stocked.items():
        marked_at = published.get(str(order_id))
        if marked_at is None or order_id not in started or order_id not in committed:
            continue
        times = (committed[order_id], marked_at, started[order_id], stock_at)
        for name, begin, end in zip(STAGES, times, times[1:], strict=False):
            stages[name].append((end - begin) * 1000)
    return stages if stages["relay"] else {}


ANSWERED = """
SELECT order_id, extract(epoch FROM changed_at)::float8 FROM order_status_history
WHERE status IN ('confirmed', 'rejected') AND order_id = ANY(%(ids)s::uuid[])
"""


async def answer_stamps(pool: aiopg.Pool, order_ids: list[uuid.UUID]) -> dict[uuid.UUID, float]:
    """When the order service had each of those orders confirmed (or rejected), if it has."""
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute(ANSWERED, {"ids": order_ids})
        return {row[0]: float(row[1]) for row in await cur.fetchall()}


Stamps = Callable[[aiopg.Pool, list[uuid.UUID]], Awaitable[dict[uuid.UUID, float]]]


async def wait_for(stamps: Stamps, pool: aiopg.Pool, order_ids: list[uuid.UUID], *,
                   within: float, check: Callable[[], None] = lambda: None
                   ) -> dict[uuid.UUID, float]:
    """Poll `stamps` until every order has one; raise after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        seen = await stamps(pool, order_ids)
        if len(seen) >= len(order_ids):
            return seen
        check()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(order_ids) - len(seen)} of {len(order_ids)} orders not "
                               f"found by {stamps.__name__} after {within:.0f}s")
        await asyncio.sleep(0.2)


async def measure(orders_pool: aiopg.Pool, inventory_pool: aiopg.Pool, rate: float,
                  seconds: float, cpu: dict[str, CpuProbe], *,
                  check: Callable[[], None] = lambda: None, within: float = 180.0) -> Load:
    """One open-loop run at `rate`, waiting until every order's stock change is committed."""
    cpu_before = {name: probe() for name, probe in cpu.items()}
    ids, failures, generator_seconds = await open_loop(orders_pool, rate, seconds)
    stocked = await wait_for(commit_stamps, inventory_pool, ids, within=within, check=check)
    answered = await wait_for(answer_stamps, orders_pool, ids, within=within, check=check)
    cpu_used = {name: probe() - cpu_before[name] for name, probe in cpu.items()}
    committed = await commit_stamps(orders_pool, ids)
    published, started = await stage_stamps(orders_pool, inventory_pool, ids)
    commit_times = sorted(committed.values())
    return Load(
        offered_rate=rate, orders=len(ids), failures=failures,
        generator_seconds=generator_seconds,
        commit_seconds=commit_times[-1] - commit_times[0] if len(commit_times) > 1 else 0.0,
        latencies_ms=[(stocked[order_id] - committed[order_id]) * 1000 for order_id in ids],
        round_trips_ms=[(answered[order_id] - committed[order_id]) * 1000 for order_id in ids],
        cpu_seconds=cpu_used,
        stages_ms=stage_durations(committed, published, started, stocked),
    )
