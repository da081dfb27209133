"""The pure pieces of the relay: outbox rows to records, checkpoints to bytes and back."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from services.relay.checkpoint import Checkpoint, checkpoint_of, decode, encode
from services.relay.settings import RelaySettings
from shared.outbox.records import OutboxRow, to_record

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def row(outbox_id: int, *, traceparent: str | None = TRACEPARENT) -> OutboxRow:
    return OutboxRow(
        id=outbox_id,
        event_id=f"00000000-0000-4000-8000-{outbox_id:012d}",
        aggregate_id="6f1c3a52-8f7e-4f0e-9d53-2b1f4a9c0e11",
        event_type="OrderCreated",
        payload='{"event_id": "x", "payload": {"customer_id": "zoë"}}',
        traceparent=traceparent,
    )


def test_a_record_is_keyed_by_the_order_and_carries_the_stored_payload_bytes() -> None:
    record = to_record(row(7))

    assert record.key == b"6f1c3a52-8f7e-4f0e-9d53-2b1f4a9c0e11"
    assert record.value == '{"event_id": "x", "payload": {"customer_id": "zoë"}}'.encode()
    assert record.headers == [
        ("event_id", b"00000000-0000-4000-8000-000000000007"),
        ("event_type", b"OrderCreated"),
        ("traceparent", TRACEPARENT.encode()),
    ]


def test_a_row_without_trace_context_has_no_traceparent_header() -> None:
    headers = dict(to_record(row(1, traceparent=None)).headers)

    assert "traceparent" not in headers
    assert headers["event_type"] == b"OrderCreated"


def test_a_checkpoint_names_the_batch_ids_in_order_and_its_last_event() -> None:
    batch = [row(3), row(5), row(9)]

    assert checkpoint_of(batch) == Checkpoint((3, 5, 9), batch[-1].event_id)
    assert checkpoint_of(batch).last_id == 9


def test_an_empty_batch_has_no_checkpoint() -> None:
    with pytest.raises(ValueError, match="at least one row"):
        checkpoint_of([])


def test_a_checkpoint_survives_encoding() -> None:
    original = Checkpoint((1, 2, 40_000_000_000), "00000000-0000-4000-8000-000000000002")

    assert decode(encode(original)) == original
    assert json.loads(encode(original)) == {
        "outbox_ids": [1, 2, 40_000_000_000],
        "last_event_id": "00000000-0000-4000-8000-000000000002",
    }


@pytest.mark.parametrize("value", [
    b"not json", b"{}", b'{"outbox_ids": [], "last_event_id": "x"}',
    b'{"outbox_ids": ["a"], "last_event_id": "x"}', b'{"outbox_ids": [1]}', b"[1, 2]",
])
def test_a_value_that_is_not_a_checkpoint_is_refused(value: bytes) -> None:
    with pytest.raises(ValueError, match="checkpoint"):
        decode(value)


def test_each_outbox_has_its_own_transactional_id_and_checkpoint_topic() -> None:
    settings = RelaySettings(postgres_password="x", order_events_topic="shop.events",
                             relay_transactional_id="relay")

    [orders, inventory] = settings.routes()
    assert (orders.database, orders.topic) == ("orders", "shop.events")
    assert (inventory.database, inventory.topic) == ("inventory", "inventory.events")
    assert orders.transactional_id == "relay.shop.events"
    assert inventory.transactional_id == "relay.inventory.events"
    assert orders.checkpoint_topic == "shop.events.relay-checkpoints"
    assert inventory.checkpoint_topic == "inventory.events.relay-checkpoints"


def test_the_outboxes_can_be_named_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAY_OUTBOXES", '[{"database": "payments", "topic": "payment.events"}]')

    [route] = RelaySettings(postgres_password="x").routes()
    assert (route.database, route.topic, route.partitions) == ("payments", "payment.events", 3)


def test_an_outbox_entry_with_a_typo_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAY_OUTBOXES", '[{"database": "payments", "topc": "payment.events"}]')

    with pytest.raises(ValidationError, match="topc"):
        RelaySettings(postgres_password="x")
