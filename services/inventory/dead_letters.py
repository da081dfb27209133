"""`python -m services.inventory.dead_letters list | replay ...`: the inventory's dead letters.

The records of `order.events` (ORDER_EVENTS_TOPIC) that the inventory's reader could never
apply, in `order.events.dlq`: `list` shows them, `replay` puts them back on `order.events`,
each once (`shared/inbox/replay_cli.py`, `--help`).
"""

from __future__ import annotations

import sys

from services.inventory.settings import InventorySettings
from shared.inbox.replay_cli import Target
from shared.inbox.replay_cli import main as run_tool


def target() -> Target:
    """The broker and the topic the inventory reads, from its settings."""
    settings = InventorySettings()
    return Target(settings.kafka_bootstrap_servers, settings.order_events_topic)


def main(argv: list[str] | None = None) -> int:
    """Entry point; the exit status."""
    return run_tool(sys.argv[1:] if argv is None else argv, target,
               prog="python -m services.inventory.dead_letters",
               reader="the inventory service's reader",
               topic_setting="ORDER_EVENTS_TOPIC, order.events by default")


if __name__ == "__main__":
    sys.exit(main())
