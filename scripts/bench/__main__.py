"""`python -m scripts.bench [--quick] [--only relay,e2e,inventory,debezium] [--runs N]`.

Needs PostgreSQL and Kafka running (and Kafka Connect for `debezium`): `make bench` starts
them. Every benchmark works in databases and topics of its own (`bench_*`), dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import uvloop
from opentelemetry import trace

from scripts.bench import debezium, drain, e2e, outbox, procs, report, warmup
from scripts.bench.world import Worlds
from shared.cli import tune_gc
from shared.db import close_pool, create_pool
from shared.settings import CommonSettings
from shared.tracing import configure_tracing
from tests.support.world import World

os.environ.setdefault("ENVIRONMENT", "test")
SECTIONS = ("relay", "inventory", "e2e", "debezium")
# An open-loop run whose median latency passes this built a queue: the system is saturated.
SATURATED_P50_MS = 1000.0
# Measured even when a lower rate saturated: a target is stated at this rate.
MUST_MEASURE = frozenset({200})
WARM_UP_ROWS = 25_000  # rows drained (and discarded) per warm-up round
WARM_UP_RATE, WARM_UP_SECONDS = 200, 3.0  # end-to-end load per warm-up round


@dataclass(frozen=True)
class Plan:
    runs: int
    drain_rows: int
    drain_rows_batch1: int
    batches: tuple[int, ...]
    e2e_rates: tuple[int, ...]
    e2e_seconds: float
    debezium_e2e_rates: tuple[int, ...]
    inventory_events: int
    warm_up_rounds: int  # at most, per section (`scripts/bench/warmup.py`)

    @classmethod
    def full(cls) -> Plan:
        return cls(runs=3, drain_rows=100_000, drain_rows_batch1=1_000, batches=(1, 100, 1000),
                   e2e_rates=(100, 200, 500, 1000), e2e_seconds=15.0,
                   debezium_e2e_rates=(100, 200), inventory_events=20_000,
                   warm_up_rounds=warmup.MAX_ROUNDS)

    @classmethod
    def quick(cls) -> Plan:
        return cls(runs=1, drain_rows=5_000, drain_rows_batch1=200, batches=(1, 100, 1000),
                   e2e_rates=(100, 200), e2e_seconds=3.0, debezium_e2e_rates=(200,),
                   inventory_events=1_000, warm_up_rounds=2)


def say(text: str) -> None:
    print(text, flush=True)


def machine() -> str:
    load = os.getloadavg()
    mem = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), "?")
    return (f"{os.cpu_count()} cores, {int(mem) // 1024:,} MiB, load average "
            f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, Python {platform.python_version()}, "
            f"{platform.platform()}")


# --------------------------------------------------------------------------- relay drain

async def bench_relay(plan: Plan, worlds: Worlds, results: report.Results) -> None:
    world = await worlds.create("drain")
    common = worlds.settings
    pool = await create_pool(common.dsn(world.order_db_name), maxsize=4)
    infra = procs.InfraCpu()
    try:
        warm_topic = await worlds.topic(f"bench.drain.{world.suffix}.warm-up")
        worlds.forget_topic_later(f"{warm_topic}.relay-checkpoints")

        async def warm_up_round() -> None:
            await outbox.fill_outbox(pool, min(WARM_UP_ROWS, plan.drain_rows))
            await drain.run_drain(pool, common,
                                  {**world.overrides(), "order_events_topic": warm_topic},
                                  batch=100, exactly_once=True, infra=infra)

        await warmup.warm_up("the Kafka broker", [procs.kafka_pid()], warm_up_round, say,
                             plan.warm_up_rounds)
        for batch in plan.batches:
            rows = plan.drain_rows_batch1 if batch == 1 else plan.drain_rows
            results.drain_rows[batch] = rows
            for run in range(plan.runs):
                for mode in ("eos", "alos"):
                    topic = await worlds.topic(f"bench.drain.{world.suffix}.{batch}.{run}.{mode}")
                    worlds.forget_topic_later(f"{topic}.relay-checkpoints")  # the relay makes it
                    await outbox.fill_outbox(pool, rows)
                    if not results.payload_bytes:
                        results.payload_bytes = await outbox.payload_bytes(pool)
                    done = await drain.run_drain(
                        pool, common, {**world.overrides(), "order_events_topic": topic},
                        batch=batch, exactly_once=mode == "eos", infra=infra)
                    left = await outbox.unpublished(pool)
                    if done.rows != rows or left:
                        raise RuntimeError(f"drain published {done.rows} of {rows}, {left} left")
                    results.drain.setdefault((mode, batch), []).append(done)
                    say(f"  relay {mode:4} batch {batch:4} run {run + 1}: {done.rows:,} rows in "
                        f"{done.seconds:.2f}s = {done.rate:,.0f}/s, CPU s/1k "
                        f"{_cpu_by_process(done)}")
    finally:
        await close_pool(pool)


# --------------------------------------------------------------------------- inventory

def inventory_process(world: World, log_dir: Path, group: str) -> procs.ServiceProcess:
    from tests.support.faust_apps import free_port

    return procs.ServiceProcess("inventory", {
        **world.env(),
        "INVENTORY_SERVICE_NAME": group,
        "INVENTORY_HTTP_PORT": str(free_port()),
    }, log_dir / f"{group}.log")


def order_process(world: World, log_dir: Path) -> procs.ServiceProcess:
    """The order service, for its reader of inventory's answers (the bench places orders in
    its database directly)."""
    from tests.support.faust_apps import free_port

    name = f"bench-order-{world.suffix}"
    return procs.ServiceProcess("order", {
        **world.env(),
        "ORDER_SERVICE_NAME": name,
        "ORDER_HTTP_PORT": str(free_port()),
    }, log_dir / f"{name}.log")


def relay_process(world: World, log_dir: Path) -> procs.ServiceProcess:
    from tests.support.faust_apps import free_port

    name = f"bench-relay-{world.suffix}"
    return procs.ServiceProcess("relay", {
        **world.env(),
        "RELAY_MODE": "polling",
        "RELAY_TRANSACTIONAL_ID": name,
        "RELAY_HTTP_PORT": str(free_port()),
    }, log_dir / f"{name}.log")


async def bench_inventory(plan: Plan, worlds: Worlds, results: report.Results,
                          log_dir: Path) -> None:
    world = await worlds.create("inv")
    common = worlds.settings
    orders = await create_pool(common.dsn(world.order_db_name), maxsize=2)
    stock = await create_pool(common.dsn(world.inventory_db_name), maxsize=2)
    n = plan.inventory_events
    results.inventory_events = n
    try:
        # The topic is filled by the real relay: Kafka transactions of 1,000 records.
        await outbox.fill_outbox(orders, n)
        await drain.run_drain(orders, common, world.overrides(), batch=1000, exactly_once=True)
        for run in range(plan.runs):
            async with stock.acquire() as conn, conn.cursor() as cur:
                await cur.execute("TRUNCATE reservation_lines, reservations, processed_events")
            await outbox.seed_stock(stock)
            service = inventory_process(world, log_dir, f"bench-inventory-{uuid.uuid4().hex[:8]}")
            service.start()
            try:
                rate, cpu = await _time_inventory(stock, service, n)
            finally:
                service.stop()
            results.inventory.append((rate, cpu))
            say(f"  inventory run {run + 1}: {n:,} events at {rate:,.0f}/s, CPU {cpu:.3f} s/1k")
    finally:
        await close_pool(orders)
        await close_pool(stock)


async def _processed(pool: object) -> tuple[int, float, float]:
    async with pool.acquire() as conn, conn.cursor() as cur:  # type: ignore[attr-defined]
        await cur.execute("SELECT count(*), extract(epoch FROM min(processed_at))::float8,"
                          " extract(epoch FROM max(processed_at))::float8 FROM processed_events")
        count, first, last = await cur.fetchone()
    return int(count), float(first or 0), float(last or 0)


async def _time_inventory(pool: object, service: procs.ServiceProcess, n: int
                          ) -> tuple[float, float]:
    """Events/s between the first and the last applied event; CPU per 1,000 meanwhile."""
    deadline = time.monotonic() + 120 + n / 200
    start: tuple[int, float] | None = None
    while True:
        service.check_alive()
        cpu = service.cpu()
        count, first, last = await _processed(pool)
        if count and start is None:
            start = (count, cpu)
        if count >= n:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"inventory applied {count} of {n} events")
        await asyncio.sleep(0.1)
    assert start is not None
    cpu_per_1000 = (cpu - start[1]) / max(1, count - start[0]) * 1000
    return (n - 1) / (last - first), cpu_per_1000


# --------------------------------------------------------------------------- end to end

async def _e2e_runs(label: str, rates: tuple[int, ...], plan: Plan, world: World,
                    cpu: dict[str, e2e.CpuProbe], check: Callable[[], None],
                    results: report.Results, jvms: list[int | None]) -> None:
    common = CommonSettings()
    orders = await create_pool(common.dsn(world.order_db_name), maxsize=40)
    stock = await create_pool(common.dsn(world.inventory_db_name), maxsize=2)
    try:
        # Discarded: waits until the services consume and publish; then load until the JVMs
        # (the broker, and Connect for Debezium) have compiled what it runs.
        await e2e.measure(orders, stock, 20, 1.0, {}, check=check, within=120)

        async def warm_up_round() -> None:
            await e2e.measure(orders, stock, WARM_UP_RATE, WARM_UP_SECONDS, {}, check=check,
                              within=120)

        await warmup.warm_up(label, jvms, warm_up_round, say, plan.warm_up_rounds)
        saturated_at: int | None = None
        for rate in rates:
            if saturated_at is not None and rate not in MUST_MEASURE:
                results.notes.append(f"{label} at {rate} orders/s: skipped (saturated at "
                                     f"{saturated_at} orders/s)")
                continue
            for run in range(plan.runs if saturated_at is None else 1):
                load = await e2e.measure(orders, stock, rate, plan.e2e_seconds, cpu,
                                         check=check,
                                         within=60 + rate * plan.e2e_seconds / 20)
                summary = report.latency_summary(load.latencies_ms)
                round_trip = report.latency_summary(load.round_trips_ms)
                record = {"achieved": load.achieved_rate, "orders": load.orders,
                          "failures": load.failures, **summary,
                          "rt p50": round_trip["p50"], "rt p99": round_trip["p99"],
                          "relay_cpu": load.cpu_per_1000("relay"),
                          "inventory_cpu": load.cpu_per_1000("inventory"),
                          **report.stage_summary(load.stages_ms)}
                results.e2e.setdefault((label, rate), []).append(record)
                say(f"  e2e {label} {rate}/s run {run + 1}: {load.orders:,} orders at "
                    f"{load.achieved_rate:,.0f}/s, p50 {summary['p50']:.1f} p99 "
                    f"{summary['p99']:.1f} p99.9 {summary['p99.9']:.1f} max "
                    f"{summary['max']:.1f} ms; round trip p50 {round_trip['p50']:.1f} p99 "
                    f"{round_trip['p99']:.1f} ms; CPU s/1k relay {record['relay_cpu']:.3f} "
                    f"inventory {record['inventory_cpu']:.3f}"
                    + (f"; {load.failures} failed" if load.failures else ""))
                await asyncio.sleep(1.0)
                if summary["p50"] > SATURATED_P50_MS and saturated_at is None:
                    # A queue built up: more runs, or a higher rate, would only wait longer.
                    saturated_at = rate
                    note = (f"{label} at {rate} orders/s: saturated (p50 {summary['p50']:,.0f} "
                            f"ms after {plan.e2e_seconds:.0f}s of load); one run per rate from "
                            "here, and only the rates the targets need")
                    results.notes.append(note)
                    say(f"  {note}")
                    break
    finally:
        await close_pool(orders)
        await close_pool(stock)


async def _e2e_world(worlds: Worlds, label: str) -> World:
    world = await worlds.create(label, stamp_commits=True)
    stock = await create_pool(worlds.settings.dsn(world.inventory_db_name), maxsize=1)
    try:
        await outbox.seed_stock(stock)
    finally:
        await close_pool(stock)
    return world


async def bench_e2e(plan: Plan, worlds: Worlds, results: report.Results, log_dir: Path) -> None:
    world = await _e2e_world(worlds, "e2e")
    relay = relay_process(world, log_dir)
    inventory = inventory_process(world, log_dir, f"bench-inventory-{world.suffix}")
    order = order_process(world, log_dir)
    rates = tuple(sorted(set(plan.e2e_rates) | {200}))

    def check() -> None:
        relay.check_alive()
        inventory.check_alive()
        order.check_alive()

    relay.start()
    inventory.start()
    order.start()
    try:
        await _e2e_runs("polling", rates, plan, world,
                        {"relay": relay.cpu, "inventory": inventory.cpu}, check, results,
                        jvms=[procs.kafka_pid()])
    finally:
        relay.stop()
        inventory.stop()
        order.stop()


# --------------------------------------------------------------------------- debezium

async def bench_debezium(plan: Plan, worlds: Worlds, results: report.Results,
                         log_dir: Path) -> None:
    connect_pid = procs.connect_pid()
    if connect_pid is None:
        raise RuntimeError("Kafka Connect is not running: bash infra/connect.sh start")
    common = worlds.settings
    configs = {"default": {}, "tuned": debezium.TUNED}
    infra = procs.InfraCpu()

    # Drain: the connector streams one 100k-row INSERT from the WAL.
    world = await worlds.create("dbz")
    connector = debezium.Connector(world, common)
    worlds.forget_topic_later(connector.heartbeat_topic)
    pool = await create_pool(common.dsn(world.order_db_name), maxsize=2)
    n = plan.drain_rows
    results.debezium_rows = n
    try:
        await connector.register()
        async with outbox.TopicCounter(common.kafka_bootstrap_servers, world.order_events_topic,
                                       common.order_events_partitions) as counter:

            async def debezium_drain(rows: int) -> drain.Drain:
                async with pool.acquire() as conn, conn.cursor() as cur:
                    await cur.execute("TRUNCATE outbox")
                base = await counter.committed()
                await outbox.fill_outbox(pool, rows, fresh=False)
                began = time.monotonic()
                window = drain.Window(infra, lambda: procs.cpu_seconds(connect_pid))
                ended = await counter.wait_for(base + rows, within=120 + rows / 500)
                return window.drain(rows, seconds=ended - began)

            async def warm_up_round() -> None:
                await debezium_drain(min(WARM_UP_ROWS, n))

            await warmup.warm_up("Kafka Connect and the broker", [connect_pid, procs.kafka_pid()],
                                 warm_up_round, say, plan.warm_up_rounds)
            for config, extra in configs.items():
                if extra:
                    await connector.configure(extra)
                for run in range(plan.runs):
                    done = await debezium_drain(n)
                    results.debezium_drain.setdefault(config, []).append(done)
                    say(f"  debezium {config} drain run {run + 1}: {n:,} rows at "
                        f"{done.rate:,.0f}/s, CPU s/1k {_cpu_by_process(done)}")
    finally:
        await close_pool(pool)
        await connector.unregister()

    # End to end: the inventory service as a process, Debezium instead of the relay.
    world = await _e2e_world(worlds, "dbze2e")
    connector = debezium.Connector(world, common, outboxes="order,inventory")
    for topic in connector.heartbeat_topics:
        worlds.forget_topic_later(topic)
    inventory = inventory_process(world, log_dir, f"bench-inventory-{world.suffix}")
    order = order_process(world, log_dir)

    def check() -> None:
        inventory.check_alive()
        order.check_alive()

    inventory.start()
    order.start()
    try:
        await connector.register()
        for config, extra in configs.items():
            if extra:
                await connector.configure(extra)
            await _e2e_runs(f"debezium-{config}", plan.debezium_e2e_rates, plan, world,
                            {"relay": lambda: procs.cpu_seconds(connect_pid),
                             "inventory": inventory.cpu}, check, results,
                            jvms=[connect_pid, procs.kafka_pid()])
    finally:
        inventory.stop()
        order.stop()
        await connector.unregister()


def _cpu_by_process(done: drain.Drain) -> str:
    def shown(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"
    return (f"relaying {done.cpu_per_1000:.3f}, broker {shown(done.broker_cpu_per_1000)}, "
            f"PostgreSQL {shown(done.postgres_cpu_per_1000)}")


# --------------------------------------------------------------------------- main

async def main(args: argparse.Namespace) -> int:
    plan = Plan.quick() if args.quick else Plan.full()
    if args.runs:
        plan = Plan(**{**asdict(plan), "runs": args.runs})
    if args.batches:
        plan = Plan(**{**asdict(plan),
                       "batches": tuple(int(b) for b in args.batches.split(",") if b)})
    if args.rates:
        plan = Plan(**{**asdict(plan),
                       "e2e_rates": tuple(int(r) for r in args.rates.split(",") if r)})
    if args.events:
        plan = Plan(**{**asdict(plan), "inventory_events": args.events})
    only = [s for s in args.only.split(",") if s] if args.only else list(SECTIONS)
    unknown = set(only) - set(SECTIONS)
    if unknown:
        say(f"unknown section(s) {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
        return 2
    common = CommonSettings()
    # Spans as the services make them when nothing is exported: ids and context propagated,
    # nothing recorded (`shared.tracing.default_sampler`).
    for key in [key for key in os.environ if key.startswith(("OTEL_EXPORTER_", "OTEL_TRACES_"))]:
        del os.environ[key]
    if args.record_spans:
        # Every span recorded (then dropped, as no exporter is set): what tracing costs a
        # service that exports, short of the export itself.
        os.environ["OTEL_TRACES_SAMPLER"] = "parentbased_always_on"
    if args.no_tracing:
        # The SDK's own switch: its tracers become no-ops here and in the service processes.
        os.environ["OTEL_SDK_DISABLED"] = "true"
    trace.set_tracer_provider(configure_tracing("bench-relay"))
    tune_gc()  # as the services run (`shared.cli.run_worker`): the relay drains in this process
    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    worlds = Worlds(common, str(tmp / "data"))
    results = report.Results()
    tracing = ("tracing off" if args.no_tracing else
               "spans recorded" if args.record_spans else "spans not recorded (no exporter)")
    say(f"bench ({'quick' if args.quick else 'full'}, {plan.runs} run(s) each, {tracing}): "
        f"{machine()}")
    say(f"service logs: {tmp}/logs")
    started = time.monotonic()
    code = 0
    try:
        for section in SECTIONS:
            if section not in only:
                continue
            say(f"== {section}")
            if section == "relay":
                await bench_relay(plan, worlds, results)
            elif section == "inventory":
                await bench_inventory(plan, worlds, results, tmp / "logs")
            elif section == "e2e":
                await bench_e2e(plan, worlds, results, tmp / "logs")
            elif section == "debezium":
                if not debezium.CONNECT_SH.exists():
                    say("  skipped: this project has no infra/connect.sh (no Debezium)")
                    continue
                await bench_debezium(plan, worlds, results, tmp / "logs")
    except Exception as exc:
        logging.getLogger("scripts.bench").exception("benchmark failed")
        say(f"benchmark failed: {exc}")
        code = 1
    finally:
        await worlds.drop_all()
    say("")
    say(report.tables(results))
    say("")
    say(report.targets(results))
    say(f"\n{machine()}; took {time.monotonic() - started:.0f}s")
    if args.json:
        Path(args.json).write_text(json.dumps({  # noqa: ASYNC240 (once, at the end)
            "drain": {f"{m}/{b}": [run.figures() for run in v]
                      for (m, b), v in results.drain.items()},
            "drain_rows": results.drain_rows, "payload_bytes": results.payload_bytes,
            "e2e": {f"{r}/{rate}": v for (r, rate), v in results.e2e.items()},
            "inventory": results.inventory,
            "debezium_drain": {config: [run.figures() for run in v]
                               for config, v in results.debezium_drain.items()},
            "machine": machine(),
        }, indent=1))
    return code


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small counts, one run: a smoke test")
    parser.add_argument("--only", help=f"comma-separated sections of {','.join(SECTIONS)}")
    parser.add_argument("--runs", type=int, help="runs per figure (default 3, quick 1)")
    parser.add_argument("--batches", help="relay batch sizes, comma-separated (default 1,100,1000)")
    parser.add_argument("--rates", help="end-to-end offered loads in orders/s, comma-separated "
                        "(default 100,200,500,1000; 200 is always measured)")
    parser.add_argument("--events", type=int,
                        help="events in the inventory's pre-filled topic (default 20000)")
    parser.add_argument("--json", help="also write the raw figures to this file")
    parser.add_argument("--no-tracing", action="store_true",
                        help="OTEL_SDK_DISABLED=true everywhere: what spans cost, by difference")
    parser.add_argument("--record-spans", action="store_true",
                        help="record every span (then drop it), as a service that exports does")
    return parser.parse_args(argv)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        sys.exit(runner.run(main(parse(sys.argv[1:]))))
