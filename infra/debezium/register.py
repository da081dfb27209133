#!/usr/bin/env python3
"""Register the outbox connectors with Kafka Connect, or remove them again.

    python3 infra/debezium/register.py register     create or update each, wait until they run
    python3 infra/debezium/register.py unregister   stop each, delete its offsets, delete it
    python3 infra/debezium/register.py render       print the connectors' JSON (password masked)
    python3 infra/debezium/register.py slots        print "database slot publication" per outbox

One connector per database that has an outbox: the order service's (to ORDER_EVENTS_TOPIC)
and the inventory's (to INVENTORY_EVENTS_TOPIC); DEBEZIUM_OUTBOXES=order (say) picks some.
`outbox-connector.json` is a template: `${VAR}` and `${VAR:-default}` inside its strings are
filled from the environment, and `${OUTBOX_*}` from the settings of the outbox (`OUTBOXES`).
`infra/connect.sh register` runs this with the project's settings; a one-shot container
(docker compose, `cdc` profile) can run it as is with CONNECT_URL set, since it needs nothing
but the Python standard library.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

TEMPLATE = Path(__file__).resolve().parent / "outbox-connector.json"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
SECRET_KEYS = frozenset({"database.password"})

# Each outbox's `${OUTBOX_*}` values: (the variable they come from, its default or None).
OUTBOXES: dict[str, dict[str, tuple[str, str | None]]] = {
    "order": {
        "OUTBOX_DB_NAME": ("ORDER_DB_NAME", None),
        "OUTBOX_TOPIC": ("ORDER_EVENTS_TOPIC", "order.events"),
        "OUTBOX_PARTITIONS": ("ORDER_EVENTS_PARTITIONS", "3"),
        "OUTBOX_CONNECTOR_NAME": ("DEBEZIUM_CONNECTOR_NAME", "order-outbox"),
        "OUTBOX_SLOT_NAME": ("DEBEZIUM_SLOT_NAME", "order_outbox"),
        "OUTBOX_PUBLICATION_NAME": ("DEBEZIUM_PUBLICATION_NAME", "order_outbox"),
    },
    "inventory": {
        "OUTBOX_DB_NAME": ("INVENTORY_DB_NAME", None),
        "OUTBOX_TOPIC": ("INVENTORY_EVENTS_TOPIC", "inventory.events"),
        "OUTBOX_PARTITIONS": ("INVENTORY_EVENTS_PARTITIONS", "3"),
        "OUTBOX_CONNECTOR_NAME": ("DEBEZIUM_INVENTORY_CONNECTOR_NAME", "inventory-outbox"),
        "OUTBOX_SLOT_NAME": ("DEBEZIUM_INVENTORY_SLOT_NAME", "inventory_outbox"),
        "OUTBOX_PUBLICATION_NAME": ("DEBEZIUM_INVENTORY_PUBLICATION_NAME", "inventory_outbox"),
    },
}
# Every variable read for the outboxes, besides the template's own.
OUTBOX_VARIABLES = frozenset(
    source for values in OUTBOXES.values() for source, _ in values.values()
) | {"DEBEZIUM_OUTBOXES"}


class RegistrationError(Exception):
    """Registration failed; the message names the cause."""


def substitute(text: str, env: dict[str, str], missing: set[str]) -> str:
    """Fill `${VAR}` / `${VAR:-default}` from env; collect names that have no value."""

    def fill(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = env.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                missing.add(name)
                return ""
            return default
        return value

    return PLACEHOLDER.sub(fill, text)


def selected_outboxes(env: dict[str, str]) -> list[str]:
    """The outboxes DEBEZIUM_OUTBOXES names (comma-separated), all of them by default."""
    names = [name.strip() for name in env.get("DEBEZIUM_OUTBOXES", "").split(",") if name.strip()]
    unknown = sorted(set(names) - OUTBOXES.keys())
    if unknown:
        raise RegistrationError(
            f"DEBEZIUM_OUTBOXES names unknown outboxes {', '.join(unknown)}; "
            f"known: {', '.join(OUTBOXES)}")
    return names or list(OUTBOXES)


def outbox_env(env: dict[str, str], outbox: str) -> dict[str, str]:
    """`env` with the `OUTBOX_*` values of one outbox filled in from its settings."""
    filled = dict(env)
    missing = []
    for name, (source, default) in OUTBOXES[outbox].items():
        value = env.get(source) or default
        if value is None:
            missing.append(source)
        else:
            filled[name] = value
    if missing:
        raise RegistrationError(
            f"the {outbox} outbox's connector needs these environment variables: "
            f"{', '.join(sorted(missing))}")
    return filled


def render(
    env: dict[str, str] | None = None, template: Path = TEMPLATE, outbox: str = "order"
) -> dict[str, Any]:
    """One outbox's connector, `{"name": ..., "config": {...}}`, every placeholder filled.

    Substitution happens after parsing, inside string values only, so a password with quotes
    or backslashes cannot break the JSON.
    """
    env = outbox_env(dict(os.environ) if env is None else env, outbox)
    missing: set[str] = set()
    raw = json.loads(template.read_text(encoding="utf-8"))
    name = substitute(raw["name"], env, missing)
    config = {key: substitute(str(value), env, missing) for key, value in raw["config"].items()}
    if missing:
        raise RegistrationError(
            f"{template.name} needs these environment variables: {', '.join(sorted(missing))}"
        )
    return {"name": name, "config": config}


def connect_url(env: dict[str, str]) -> str:
    """Base URL of the Connect REST API (CONNECT_URL, else 127.0.0.1:CONNECT_PORT)."""
    url = env.get("CONNECT_URL") or f"http://127.0.0.1:{env.get('CONNECT_PORT', '8083')}"
    if urllib.parse.urlsplit(url).scheme not in {"http", "https"}:
        raise RegistrationError(f"CONNECT_URL={url} is not an http(s) URL")
    return url.rstrip("/")


def call(method: str, url: str, body: object = None) -> tuple[int, Any]:
    """One REST call: (status, decoded JSON body or None). Connection errors give status 0."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (scheme checked)
    request.add_header("Content-Type", "application/json")
    request.add_header("Accept", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, payload = error.code, error.read()
    except (urllib.error.URLError, OSError):
        return 0, None
    try:
        return status, json.loads(payload) if payload else None
    except ValueError:
        return status, payload.decode(errors="replace")


def error_text(body: Any) -> str:
    """The `message` of a Connect error body, on one line."""
    message = body.get("message", body) if isinstance(body, dict) else body
    return " ".join(str(message).split())


def validation_errors(base: str, connector: dict[str, Any]) -> list[str]:
    """Per-setting errors from Connect's validator; its answer to a failed PUT is often opaque."""
    plugin = urllib.parse.quote(connector["config"]["connector.class"], safe="")
    config = {**connector["config"], "name": connector["name"]}
    status, body = call("PUT", f"{base}/connector-plugins/{plugin}/config/validate", config)
    if status != 200 or not isinstance(body, dict):
        return []
    values = [item.get("value") or {} for item in body.get("configs", [])]
    return [
        f"{value.get('name')}: {' '.join(str(error).split())}"
        for value in values
        for error in value.get("errors") or []
    ]


def wait_for_worker(base: str, timeout: float) -> None:
    """Wait until the worker answers; a compose one-shot may start before Connect is ready."""
    deadline = time.monotonic() + timeout
    while True:
        status, _ = call("GET", f"{base}/connectors")
        if status == 200:
            return
        if time.monotonic() > deadline:
            raise RegistrationError(f"kafka connect is not answering on {base}")
        time.sleep(1)


def wait_until_running(base: str, name: str, timeout: float) -> None:
    """Wait until the connector and its task run; a failed task fails with its first line."""
    quoted = urllib.parse.quote(name, safe="")
    deadline = time.monotonic() + timeout
    state = "unknown"
    while time.monotonic() < deadline:
        status, body = call("GET", f"{base}/connectors/{quoted}/status")
        if status == 200:
            parts = [body["connector"], *body.get("tasks", [])]
            failed = [part for part in parts if part["state"] == "FAILED"]
            if failed:
                trace = failed[0].get("trace", "").strip().splitlines()
                raise RegistrationError(
                    f"connector {name} failed: {trace[0] if trace else 'no trace'}"
                )
            state = ", ".join(part["state"] for part in parts)
            if body.get("tasks") and all(part["state"] == "RUNNING" for part in parts):
                return
        time.sleep(0.5)
    raise RegistrationError(f"connector {name} is not running after {timeout:.0f}s ({state})")


def register(env: dict[str, str], timeout: float) -> str:
    """Create or update every selected outbox's connector and wait until each runs."""
    return "\n".join(register_one(env, outbox, timeout) for outbox in selected_outboxes(env))


def unregister(env: dict[str, str], timeout: float) -> str:
    """Remove every selected outbox's connector (see `unregister_one`)."""
    return "\n".join(unregister_one(env, outbox, timeout) for outbox in selected_outboxes(env))


def register_one(env: dict[str, str], outbox: str, timeout: float) -> str:
    """Create or update one connector (PUT is idempotent) and wait until it runs."""
    connector = render(env, outbox=outbox)
    name = connector["name"]
    base = connect_url(env)
    wait_for_worker(base, timeout)
    status, body = call(
        "PUT", f"{base}/connectors/{urllib.parse.quote(name, safe='')}/config", connector["config"]
    )
    if status not in (200, 201):
        reason = "; ".join(validation_errors(base, connector)) or error_text(body)
        raise RegistrationError(f"registering connector {name} failed: {reason}")
    wait_until_running(base, name, timeout)
    return f"connector {name} running ({'created' if status == 201 else 'updated'})"


def unregister_one(env: dict[str, str], outbox: str, timeout: float) -> str:
    """Stop one connector, reset its offsets, delete it: a later register starts afresh."""
    name = render(env, outbox=outbox)["name"]
    base = f"{connect_url(env)}/connectors/{urllib.parse.quote(name, safe='')}"
    status, body = call("GET", f"{base}/status")
    if status == 404:
        return f"connector {name} is not registered"
    if status != 200:
        raise RegistrationError(f"reading connector {name} failed: {error_text(body)}")
    # Offsets can only be reset on a stopped connector; without the reset, registering the
    # same name again would resume from an LSN the new slot no longer has.
    call("PUT", f"{base}/stop")
    deadline = time.monotonic() + timeout
    while call("GET", f"{base}/status")[1]["connector"]["state"] != "STOPPED":
        if time.monotonic() > deadline:
            raise RegistrationError(f"connector {name} did not stop within {timeout:.0f}s")
        time.sleep(0.5)
    status, body = call("DELETE", f"{base}/offsets")
    if status != 200:
        raise RegistrationError(f"resetting the offsets of {name} failed: {error_text(body)}")
    status, body = call("DELETE", base)
    if status not in (200, 204, 404):
        raise RegistrationError(f"deleting connector {name} failed: {error_text(body)}")
    return f"connector {name} deleted"


def main(argv: list[str]) -> int:
    """Command-line entry point; prints one `error: ...` line on failure."""
    env = dict(os.environ)
    timeout = float(env.get("CONNECT_REGISTER_TIMEOUT_SECONDS", "60"))
    try:
        match argv:
            case ["register"]:
                print(register(env, timeout))
            case ["unregister"]:
                print(unregister(env, timeout))
            case ["render"]:
                for outbox in selected_outboxes(env):
                    connector = render(env, outbox=outbox)
                    for key in SECRET_KEYS & connector["config"].keys():
                        connector["config"][key] = "********"
                    print(json.dumps(connector, indent=2))
            case ["slots"]:
                for outbox in selected_outboxes(env):
                    config = render(env, outbox=outbox)["config"]
                    print(config["database.dbname"], config["slot.name"],
                          config["publication.name"])
            case _:
                print(__doc__, file=sys.stderr)
                return 2
    except (RegistrationError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
