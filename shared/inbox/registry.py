"""Which event types a service applies, and the handler of each."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiopg

from shared.events import Envelope, event_type_of

# A handler applies one event inside the caller's transaction (the cursor's); it may write
# an outcome event to its service's outbox (`shared.outbox.write`) in that same transaction.
Handler = Callable[[aiopg.Cursor, Any], Awaitable[None]]


class Registry:
    """Handlers keyed by `event_type`, built from `{EventModel: handler}` in one place.

        HANDLERS = Registry({OrderCreated: reserve_stock, OrderCancelled: release_stock})
    """

    def __init__(self, handlers: Mapping[type[Envelope], Handler]) -> None:
        self._by_type = {event_type_of(model): (model, handler)
                         for model, handler in handlers.items()}

    @property
    def event_types(self) -> tuple[str, ...]:
        """The event types this registry applies."""
        return tuple(self._by_type)

    def lookup(self, event_type: str) -> tuple[type[Envelope], Handler] | None:
        """The model and handler of an event type, or None if it is not applied here."""
        return self._by_type.get(event_type)
