"""The project's own scripts, run the way a user runs them: migrations and the services."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SERVICES = "infra/services.sh"
# Where infra/services.sh writes the logs, as a user would type it.
LOG_DIR = f"{os.environ.get('RUN_DIR', '.run')}/logs"


class ScriptFailed(Exception):
    """A project script exited non-zero; its own message is already on the terminal."""


def traced_env(endpoint: str) -> dict[str, str]:
    """The environment for services that export their spans to `endpoint` (OTLP/HTTP)."""
    env = dict(os.environ)
    env.update({
        "OTEL_SDK_DISABLED": "false",
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        # Wins over the generic endpoint, so a traces endpoint set in the shell must go too.
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{endpoint}/v1/traces",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        # Export every 200 ms rather than every 5 s, so the demo need not wait for its trace.
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        # The demo reads the metrics from /metrics; its sink takes spans only.
        "OTEL_METRICS_EXPORTER": "none",
        # The summary counts outbox rows, so the relay must keep them (marked) this time.
        "RELAY_RETENTION": "mark",
    })
    return env


async def run(*argv: str, env: Mapping[str, str] | None = None) -> str:
    """Run a command from the repository root, echo its output and return it; raise if it
    fails."""
    # A session of its own: Ctrl-C reaches only the demo, which then lets a start or stop in
    # progress finish and stops what it started, instead of leaving a service half-started.
    process = await asyncio.create_subprocess_exec(
        *argv, cwd=REPO_ROOT, env=env, start_new_session=True,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    lines: list[str] = []
    try:
        await _echo(process.stdout, lines)
    except asyncio.CancelledError:
        await asyncio.shield(_echo(process.stdout, lines))
        raise
    finally:
        await asyncio.shield(process.wait())
    if process.returncode != 0:
        raise ScriptFailed(f"`{' '.join(argv)}` exited with status {process.returncode}")
    return "".join(lines)


async def _echo(stream: asyncio.StreamReader, lines: list[str]) -> None:
    while line := await stream.readline():
        text = line.decode(errors="replace")
        lines.append(text)
        print(text, end="", flush=True)


async def running_services() -> list[str]:
    """The status lines of the services that are running now (none: an empty list)."""
    process = await asyncio.create_subprocess_exec(
        "bash", SERVICES, "status", cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )
    output, _ = await process.communicate()
    return [line for line in output.decode().splitlines() if ": running" in line]


async def migrate() -> None:
    """Apply the migrations of every service (`python -m services.migrate`)."""
    await run(sys.executable, "-m", "services.migrate")


async def start_services(env: Mapping[str, str] | None = None) -> None:
    """Start the three services in the background, each with its log in `.run/logs/`.

    With `env` None they get this process's environment, as with `make up`.
    """
    await run("bash", SERVICES, "start", env=env)


async def stop_services() -> None:
    """Stop the three services."""
    await run("bash", SERVICES, "stop")


async def register_connector() -> bool:
    """Create or update the Debezium outbox connector (RELAY_MODE=debezium) and wait until it
    runs; True when it did not exist before."""
    return "(created)" in await run("bash", "infra/connect.sh", "register")


async def unregister_connector() -> None:
    """Delete the outbox connector, its offsets, replication slot and publication."""
    await run("bash", "infra/connect.sh", "unregister")
