"""The Debezium outbox cleanup sweeps the outboxes `infra/debezium/register.py` registers."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from pydantic import ValidationError

from services.outbox_cleanup import OUTBOX_NAMES, CleanedOutbox, OutboxCleanupSettings

REGISTER = Path(__file__).resolve().parents[2] / "infra" / "debezium" / "register.py"
ENV = {
    "ORDER_DB_NAME": "orders-db",
    "INVENTORY_DB_NAME": "inventory-db",
    "DEBEZIUM_SLOT_NAME": "order_slot",
    "DEBEZIUM_INVENTORY_SLOT_NAME": "inventory_slot",
}


def register_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("register", REGISTER)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def registered(env: dict[str, str]) -> list[tuple[str, str]]:
    """(database, slot) of each connector register.py would create with `env`."""
    register = register_module()
    found = []
    for outbox in register.selected_outboxes(env):
        filled = register.outbox_env(env, outbox)
        found.append((filled["OUTBOX_DB_NAME"], filled["OUTBOX_SLOT_NAME"]))
    return found


def cleaned(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> list[CleanedOutbox]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # The environment alone, as register.py reads it (no `.env`).
    return OutboxCleanupSettings(_env_file=None).outboxes()


def test_the_cleanup_knows_the_outboxes_register_py_knows() -> None:
    assert tuple(register_module().OUTBOXES) == OUTBOX_NAMES


@pytest.mark.parametrize("selected", [None, "order", "inventory", "inventory, order"])
def test_each_outbox_is_swept_through_the_slot_of_its_own_connector(
    monkeypatch: pytest.MonkeyPatch, selected: str | None
) -> None:
    env = dict(ENV) if selected is None else {**ENV, "DEBEZIUM_OUTBOXES": selected}
    if selected is None:
        monkeypatch.delenv("DEBEZIUM_OUTBOXES", raising=False)

    outboxes = cleaned(env, monkeypatch)

    assert sorted((outbox.database, outbox.slot) for outbox in outboxes) == sorted(
        registered(env))


def test_the_default_slots_are_register_py_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DEBEZIUM_SLOT_NAME", "DEBEZIUM_INVENTORY_SLOT_NAME", "DEBEZIUM_OUTBOXES"):
        monkeypatch.delenv(name, raising=False)
    env = {"ORDER_DB_NAME": "orders", "INVENTORY_DB_NAME": "inventory"}

    outboxes = cleaned(env, monkeypatch)

    assert [(outbox.database, outbox.slot) for outbox in outboxes] == registered(env)


def test_an_unknown_outbox_name_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEBEZIUM_OUTBOXES", "order,shipping")
    with pytest.raises(ValidationError, match="unknown outboxes shipping"):
        OutboxCleanupSettings()
