"""docker compose, checked without a Docker engine: the Debezium services.

Kafka Connect (`connect`) and the connector's registration (`register-connector`): the image
Connect runs, the settings the registration gets, and when both start. Where the project also
has the polling relay they are the `cdc` profile, and the registration refuses to run unless
RELAY_MODE=debezium; in a project generated for Debezium alone they start with everything else.

Only projects with Debezium have this file; the checks every project shares, these services
included, are in test_compose.py.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

from tests.unit.compose_support import (
    REPO,
    compose,
    compose_raw,
    copy_parts,
    dockerfile,
    env_example,
    environment_of,
)

DEBEZIUM_VERSION = "3.6.1.Final"
DEBEZIUM_SERVICES = ("connect", "register-connector")


def register_script() -> ModuleType:
    """infra/debezium/register.py, which the cdc one-shot runs as `infra/connect.sh` does."""
    path = REPO / "infra/debezium/register.py"
    spec = importlib.util.spec_from_file_location("debezium_register", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def properties(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    pairs = [line.split("=", 1) for line in lines if line.strip() and not line.startswith("#")]
    return {key.strip(): value.strip() for key, value in pairs}


def test_the_project_has_kafka_connect_and_the_connector_registration() -> None:
    services = compose_raw()["services"]

    assert [name for name in DEBEZIUM_SERVICES if name not in services] == []


# --- the Connect image ----------------------------------------------------------------------


def test_the_connect_image_runs_the_debezium_version_of_the_local_scripts() -> None:
    parsed = dockerfile()
    plugin = parsed.stage("debezium-plugin")
    version = dict(args.partition("=")[::2] for args in plugin.all("ARG"))["DEBEZIUM_VERSION"]
    assert version == DEBEZIUM_VERSION
    pom = (REPO / "infra/debezium/pom.xml").read_text(encoding="utf-8")
    assert f"<debezium.version>{version}</debezium.version>" in pom
    connect_script = (REPO / "infra/connect.sh").read_text(encoding="utf-8")
    assert f'"${{DEBEZIUM_VERSION:={version}}}"' in connect_script

    [download] = plugin.all("ADD")
    flags, [url], _ = copy_parts(parsed.resolve(download, plugin))
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", flags["checksum"])
    assert url.endswith(f"/debezium-connector-postgres-{version}-plugin.tar.gz")

    connect = parsed.stage("connect")
    copies = {copy_parts(args)[1][0]: copy_parts(args)[2] for args in connect.all("COPY")}
    config_file = copies["infra/compose/connect-distributed.properties"]
    [command] = connect.all("CMD")
    assert json.loads(command) == ["/opt/kafka/bin/connect-distributed.sh", config_file]
    worker = properties(REPO / "infra/compose/connect-distributed.properties")
    assert worker["plugin.path"] == copies["/plugins"]
    assert worker["bootstrap.servers"] == "kafka:9092"
    assert worker["listeners"] == "http://0.0.0.0:8083"
    # The connector demands it (exactly.once.support=required).
    assert worker["exactly.once.source.support"] == "enabled"


def test_the_connect_image_is_built_on_the_kafka_version_of_env_example() -> None:
    kafka_version = env_example()["KAFKA_VERSION"]
    parsed = dockerfile()

    assert compose()["services"]["connect"]["build"]["args"] == {"KAFKA_VERSION": kafka_version}
    assert parsed.resolve(parsed.stage("connect").base) == f"apache/kafka:{kafka_version}"


# --- when they start: the cdc profile, or with everything else without the polling relay ----


def test_debezium_services_are_a_profile_beside_the_polling_relay() -> None:
    services = compose_raw()["services"]
    profiled = {
        name: service["profiles"] for name, service in services.items() if "profiles" in service
    }

    if "relay" in services:
        assert profiled == {"connect": ["cdc"], "register-connector": ["cdc"],
                            "outbox-cleanup": ["cdc"]}
    else:
        assert profiled == {}  # Debezium alone starts with everything else
    assert services["register-connector"]["depends_on"] == {
        "connect": {"condition": "service_healthy"}
    }


@pytest.mark.parametrize("mode", ["polling", ""])
def test_registration_refuses_to_run_beside_the_polling_relay(mode: str) -> None:
    command = compose()["services"]["register-connector"]["command"]
    assert command[:2] == ["sh", "-c"]

    refused = subprocess.run(
        ["sh", "-c", command[2]],
        env={"PATH": "/usr/bin:/bin", "RELAY_MODE": mode},
        capture_output=True,
        text=True,
        timeout=10,
    )

    assert refused.returncode == 1
    assert "set RELAY_MODE=debezium" in refused.stderr


def test_registration_gets_every_setting_the_connector_template_needs() -> None:
    environ = environment_of(compose()["services"]["register-connector"])
    script = register_script()

    connector = script.render(environ)  # raises, naming them, if any variable is missing
    config = connector["config"]

    assert script.connect_url(environ) == "http://connect:8083"
    assert config["connector.class"] == "io.debezium.connector.postgresql.PostgresConnector"
    assert config["database.hostname"] == "postgres"
    assert config["database.port"] == "5432"
    settings = env_example()
    assert config["database.user"] == settings["POSTGRES_USER"]
    assert config["database.password"] == settings["POSTGRES_PASSWORD"]
    assert config["database.dbname"] == settings["ORDER_DB_NAME"]
    assert config["transforms.outbox.route.topic.replacement"] == settings["ORDER_EVENTS_TOPIC"]
    inventory = script.render(environ, outbox="inventory")["config"]
    assert inventory["database.dbname"] == settings["INVENTORY_DB_NAME"]
    assert (inventory["transforms.outbox.route.topic.replacement"]
            == settings["INVENTORY_EVENTS_TOPIC"])
    assert inventory["slot.name"] != config["slot.name"]
    # Nothing passed that neither the template nor the script reads (a misspelt name).
    template = script.TEMPLATE.read_text(encoding="utf-8")
    read = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", template)) | {
        "CONNECT_URL",
        "RELAY_MODE",
    } | script.OUTBOX_VARIABLES
    assert set(environ) <= read, sorted(set(environ) - read)
