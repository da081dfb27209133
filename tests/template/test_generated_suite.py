"""The default project passes its own `make test`: a fresh venv, its own PostgreSQL and Kafka.

The outer suite's infrastructure keeps running meanwhile (PostgreSQL on 55432, Kafka on
9092/9093), so the generated project gets other ports, and its own run directory by living
elsewhere: it starts from nothing and stops what it started. It has no `tests/template/`, so
this does not recurse.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.template.conftest import Bake

PORTS = {
    "POSTGRES_PORT": "55532",
    "KAFKA_PORT": "9192",
    "KAFKA_CONTROLLER_PORT": "9193",
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9192",
    "CONNECT_PORT": "8183",
    "ORDER_HTTP_PORT": "18080",
    "INVENTORY_HTTP_PORT": "18081",
    "RELAY_HTTP_PORT": "18082",
}

# The operator tooling's tests (retention, dead letters): real-infrastructure runs of shared
# code that generating a project does not change (no name, topic or setting of the answers
# reaches them). The outer suite runs them; the project's own run leaves them out, which keeps
# CI within its time. A user's `make test` in a generated project runs them all.
LEFT_OUT = (
    "tests/integration/test_retention.py",
    "tests/integration/test_relay_retention.py",
    "tests/integration/test_debezium_retention.py",
    "tests/integration/test_dead_letters.py",
)

# Settings of the outer run that must not leak into the generated project's run.
LEAKING_PREFIXES = (
    "POSTGRES_",
    "KAFKA_",
    "CONNECT_",
    "DEBEZIUM_",
    "RELAY_",
    "ORDER_",
    "INVENTORY_",
    "OTEL_",
    "PYTEST_",
    "MAKE",
)
LEAKING_NAMES = {
    "MFLAGS",
    "RUN_DIR",
    "LOG_DIR",
    "DATA_DIR",
    "ENVIRONMENT",
    "LOG_LEVEL",
    "INFRA_SERVICES",
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHON",
}


def project_environment(project: Path) -> dict[str, str]:
    """This process's environment without the outer run's settings, with the other ports."""
    settings = {
        line.split("=", 1)[0]
        for line in (project / ".env.example").read_text("utf-8").splitlines()
        if "=" in line and not line.startswith("#")
    }
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in settings and key not in LEAKING_NAMES and not key.startswith(LEAKING_PREFIXES)
    }
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(
        entry for entry in env.get("PATH", "").split(os.pathsep) if entry != venv_bin
    )
    # `python3` from PATH creates the project's venv, as for a user who just generated it.
    return {**env, **PORTS, "PYTEST_ARGS": " ".join(f"--ignore={path}" for path in LEFT_OUT)}


@pytest.mark.slow
def test_default_project_passes_its_own_make_test(
    bake: Bake, snapshot: Path, tmp_path: Path
) -> None:
    # The defaults but for the name, as a user would start: `project_name="Acme Shop"`.
    project = bake(tmp_path, snapshot, project_name="Acme Shop")
    assert project.name == "acme-shop"
    assert not (project / "tests" / "template").exists()
    env = project_environment(project)
    log = tmp_path / "make-test.log"
    try:
        with log.open("w", encoding="utf-8") as output:
            result = subprocess.run(
                ["make", "test"],
                cwd=project,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                timeout=3600,
                check=False,
            )
    finally:
        # Whatever happened (a timeout kills make before it can clean up), stop this project's
        # own infrastructure; the outer run's is untouched (other run directory, other ports).
        subprocess.run(
            ["bash", "infra/down.sh"], cwd=project, env=env, capture_output=True, check=False
        )
        # Run as root, the cluster lives outside the project, in a directory of its own named
        # after the project's run directory (infra/postgres.sh records where): remove it too.
        recorded = project / ".run" / "postgres.datadir"
        if recorded.is_file():
            cluster = Path(recorded.read_text("utf-8").strip()).parent
            if not cluster.is_relative_to(project):
                shutil.rmtree(cluster, ignore_errors=True)
    tail = "".join(log.read_text("utf-8", "replace").splitlines(keepends=True)[-150:])
    assert result.returncode == 0, f"`make test` in {project} failed; last lines:\n{tail}"
