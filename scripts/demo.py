"""`python -m scripts.demo [--keep]` (`make demo`): run the whole system here and show it working.

Expects PostgreSQL and Kafka up (`infra/with-infra.sh` starts them). Applies the migrations,
starts the three services exporting spans to a small OTLP receiver in this process, seeds
stock, places orders over HTTP (a few too large for the stock, a few invalid), waits until
inventory has answered each, cancels some of the confirmed ones, waits until every order has
its final status, and prints a summary (final statuses beside inventory's view, stock before
and after), the checks that it all adds up and the span tree of one order, there and back.
Exits non-zero when something does not add up.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import aiohttp

from scripts import observe, stack
from scripts.metrics_report import settled_figures
from scripts.otlp_sink import OtlpSink
from scripts.shop import ShopClient, ShopError, place_all
from scripts.summary import DemoResult, render_summary
from scripts.trace_report import pick_order, trace_report
from scripts.waits import wait_for_pipeline, wait_for_statuses, wait_for_trace
from scripts.workload import plan_requests, seed_stock
from services.inventory.settings import InventorySettings
from services.order.settings import OrderSettings
from shared.db import close_pool, create_pool
from shared.settings import CommonSettings


class DemoError(Exception):
    """The demo cannot run; the message says why and what to do."""


class RelayChoice(CommonSettings):
    """The relay settings the demo needs, read here because a project generated for Debezium
    only has no `services.relay` (keep in step with `services/relay/settings.py`)."""

    relay_mode: Literal["polling", "debezium"] = "polling"
    relay_service_name: str = "outbox-relay"
    relay_http_host: str = "127.0.0.1"
    relay_http_port: int = 8082


@dataclass
class Config:
    """Settings of the services, as they will read them."""

    order: OrderSettings
    relay: RelayChoice
    inventory: InventorySettings

    @property
    def order_url(self) -> str:
        return _url(self.order.order_http_host, self.order.order_http_port)

    @property
    def inventory_url(self) -> str:
        return _url(self.inventory.inventory_http_host, self.inventory.inventory_http_port)

    @property
    def metrics_urls(self) -> list[tuple[str, str]]:
        """The services whose `/metrics` the demo reads, by name."""
        relay = ([(self.relay.relay_service_name,
                   _url(self.relay.relay_http_host, self.relay.relay_http_port))]
                 if self.polling else [])
        return [(self.order.order_service_name, self.order_url), *relay,
                (self.inventory.inventory_service_name, self.inventory_url)]

    @property
    def polling(self) -> bool:
        return self.relay.relay_mode == "polling"

    @property
    def service_names(self) -> list[str]:
        """The services whose spans an order's trace should hold (Debezium sends none)."""
        relay = [self.relay.relay_service_name] if self.polling else []
        return [self.order.order_service_name, *relay, self.inventory.inventory_service_name]


def _url(host: str, port: int) -> str:
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"  # noqa: S104


def say(text: str = "") -> None:
    print(text, flush=True)


def step(text: str) -> None:
    say()
    say(f"==> {text}")


async def main(args: argparse.Namespace) -> int:
    config = Config(OrderSettings(), RelayChoice(), InventorySettings())
    already = await stack.running_services()
    if already:
        raise DemoError("the services are already running (`make up`?): "
                        + "; ".join(already)
                        + ". Stop them first with `bash infra/services.sh stop`.")
    sink = OtlpSink()
    await sink.start()
    started = kept = registered = False
    try:
        step("Applying migrations")
        await stack.migrate()
        step(f"Starting the services (spans go to the demo's OTLP receiver on {sink.endpoint})")
        started = True
        await stack.start_services(stack.traced_env(sink.endpoint))
        if not config.polling:
            step("RELAY_MODE=debezium: registering the outbox connector")
            registered = await stack.register_connector()
        code, order_id, sku = await demonstrate(args, config, sink)
        if args.keep:
            # Left pointing at this process's receiver, they would log an export error per span.
            step("Restarting the services without the demo's trace receiver, to leave them "
                 "running")
            await stack.stop_services()
            await stack.start_services()
            kept = True
            print_keep_hints(config, order_id, sku)
        return code
    finally:
        if started and not kept:
            step("Stopping the services")
            await stack.stop_services()
        if registered and not kept:
            # Its replication slot would hold WAL on the server for as long as it exists.
            await stack.unregister_connector()
        await sink.stop()


async def demonstrate(
    args: argparse.Namespace, config: Config, sink: OtlpSink
) -> tuple[int, str | None, str]:
    """Seed, order, wait, summarise: the exit status, the order whose trace was shown, a SKU."""
    orders_db = await create_pool(config.order.dsn(config.order.order_db_name), maxsize=2)
    inventory_db = await create_pool(
        config.inventory.dsn(config.inventory.inventory_db_name), maxsize=2)
    tally = observe.TopicTally(config.order.kafka_bootstrap_servers,
                               config.order.order_events_topic)
    shop = ShopClient(config.order_url, config.inventory_url)
    try:
        try:
            await tally.start()
        except LookupError as error:
            raise DemoError(f"{error}; the inventory service creates it at start") from None
        step(f"Seeding stock on {config.inventory_url}")
        stock = seed_stock(secrets.token_hex(2).upper())
        for sku, available in stock.items():
            await shop.set_stock(sku, available)
        before = {sku: await shop.stock(sku) for sku in stock}
        say("  " + ", ".join(f"{sku} {units}" for sku, units in before.items()))

        requests = plan_requests(args.orders, stock)
        step(f"Placing orders: POST {config.order_url}/orders x {len(requests)}")
        placed = await place_all(shop, requests)
        order_ids = list(placed.accepted)

        step(f"Waiting until every event is published and consumed (at most {args.timeout:.0f}s)")
        await wait_for_pipeline(orders_db, inventory_db, tally, order_ids, args.timeout,
                                count_marked=config.polling)
        answered = await wait_for_statuses(orders_db, order_ids,
                                           frozenset({"confirmed", "rejected"}), args.timeout)
        confirmed = [order_id for order_id in order_ids if answered.get(order_id) == "confirmed"]
        cancelling = confirmed[::args.cancel_every] if args.cancel_every else []
        step(f"Cancelling {len(cancelling)} of the {len(confirmed)} confirmed orders: "
             f"POST {config.order_url}/orders/{{order_id}}/cancel")
        cancel_answers = await asyncio.gather(*(shop.cancel(order_id) for order_id in cancelling))
        say("  " + ", ".join(f"{n} x {status}"
                             for status, n in sorted(Counter(cancel_answers).items())))
        statuses = await wait_for_statuses(
            orders_db, order_ids, frozenset({"confirmed", "rejected", "cancelled"}), args.timeout)
        counts = await wait_for_pipeline(
            orders_db, inventory_db, tally, order_ids, args.timeout,
            count_marked=config.polling,
            events=len(order_ids) + cancel_answers.count(202))

        result = DemoResult(
            accepted=placed.accepted,
            refused=[(status, body) for _, status, body in placed.refused],
            outcomes=await observe.outcomes(inventory_db, order_ids),
            counts=counts,
            stock_before=before,
            stock_after={sku: await shop.stock(sku) for sku in stock},
            reserved_lines=await observe.reserved_units(inventory_db, order_ids),
            statuses=statuses,
            cancelled=[order_id for order_id, answer in zip(cancelling, cancel_answers,
                                                            strict=True) if answer == 202],
        )
        step("Summary")
        for line in render_summary(result, topic=config.order.order_events_topic):
            say(line)
        say()
        say("Refused at the API (each answer names the field and the problem)")
        for request, status, body in placed.refused:
            say(f"  {request.label}: {request.body.decode(errors='replace')}")
            say(f"    -> {status} {body}")

        order_id = pick_order(result)
        if order_id is not None:
            step(f"One order across the services: {', '.join(config.service_names)}")
            trace_id, spans = await wait_for_trace(
                sink, orders_db, order_id, placed.trace_ids.get(order_id),
                config.service_names)
            for line in trace_report(order_id, trace_id, spans, config.service_names,
                                     received=sink.spans):
                say(line)

        step("From /metrics (what Prometheus scrapes)")
        figures = await settled_figures(config.metrics_urls, within=args.timeout)
        for figure in figures:
            for line in figure.lines():
                say(line)

        problems = placed.unexpected + result.problems() + [
            f"{figure.service}: /metrics does not read backlog 0 and lag 0"
            for figure in figures if not figure.settled]
        step("Checks")
        if problems:
            for problem in problems:
                say(f"  FAILED: {problem}")
            say(f"  (service logs: {stack.LOG_DIR}/)")
            return 1, order_id, next(iter(stock))
        say(f"  ok: {len(result.accepted)} orders accepted and {len(result.cancelled)} "
            f"cancelled: {counts.written} outbox rows, {counts.published} records published "
            f"once each, {counts.consumed} consumed")
        say("  ok: every accepted order has its final status, and inventory's view matches it")
        say("  ok: stock went down by exactly the units still reserved, per SKU (cancellations "
            "gave theirs back)")
        say("  ok: every service's /metrics reads an outbox backlog of 0 and a lag of 0")
        return 0, order_id, next(iter(stock))
    finally:
        await shop.close()
        await tally.stop()
        await close_pool(orders_db)
        await close_pool(inventory_db)


def print_keep_hints(config: Config, order_id: str | None, sku: str) -> None:
    some = order_id or "<order id>"
    step("Still running: try it")
    say(f"  curl -s {config.inventory_url}/stock/{sku}")
    say(f"  curl -s -XPOST {config.order_url}/orders -H 'content-type: application/json' \\")
    say(f"       -d '{{\"customer_id\": \"c-1\", \"items\": [{{\"sku\": \"{sku}\", "
        "\"quantity\": 2}]}'")
    say(f"  curl -s {config.order_url}/orders/{some}")
    say(f"  curl -s {config.inventory_url}/reservations/{some}")
    say(f"  logs: {stack.LOG_DIR}/    stop everything: make down")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m scripts.demo", description=__doc__)
    parser.add_argument("--keep", action="store_true",
                        help="leave the services running afterwards (stop with `make down`)")
    parser.add_argument("--orders", type=int, default=36, help="valid orders to place")
    parser.add_argument("--cancel-every", type=int, default=3,
                        help="cancel every Nth confirmed order (0: none)")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds to wait for every event to be published and consumed")
    return parser.parse_args(argv)


def run() -> None:
    """Entry point: exit status 0 when everything adds up."""
    args = parse_args()
    try:
        code = asyncio.run(main(args))
        if code:
            print("error: the demo does not add up; the checks that failed are listed above",
                  file=sys.stderr, flush=True)
    except (DemoError, stack.ScriptFailed, ShopError) as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        code = 2
    except aiohttp.ClientError as error:
        print(f"error: a request to a service failed: {error!r}; see the logs in "
              f"{stack.LOG_DIR}/", file=sys.stderr, flush=True)
        code = 2
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    run()
