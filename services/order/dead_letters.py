"""`python -m services.order.dead_letters list | replay ...`: the order service's dead letters.

The records of `inventory.events` (INVENTORY_EVENTS_TOPIC) that the order service's reader
could never apply, in `inventory.events.dlq`: `list` shows them, `replay` puts them back on
`inventory.events`, each once (`shared/inbox/replay_cli.py`, `--help`).
"""

from __future__ import annotations

import sys

from services.order.settings import OrderSettings
from shared.inbox.replay_cli import Target
from shared.inbox.replay_cli import main as run_tool


def target() -> Target:
    """The broker and the topic the order service reads, from its settings."""
    settings = OrderSettings()
    return Target(settings.kafka_bootstrap_servers, settings.inventory_events_topic)


def main(argv: list[str] | None = None) -> int:
    """Entry point; the exit status."""
    return run_tool(sys.argv[1:] if argv is None else argv, target,
               prog="python -m services.order.dead_letters",
               reader="the order service's reader",
               topic_setting="INVENTORY_EVENTS_TOPIC, inventory.events by default")


if __name__ == "__main__":
    sys.exit(main())
