"""Failure modes of the infrastructure scripts, run as subprocesses.

Every case fails before anything is started: each run gets a RUN_DIR of its
own under tmp_path and free or deliberately held ports, so the shared broker
and cluster that the other integration tests use are never touched.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA = REPO_ROOT / "infra"
BASH = shutil.which("bash") or "/bin/bash"

# What the scripts may call before they fail, minus java and mvn.
TOOLS = [
    "bash",
    "env",
    "cat",
    "sed",
    "grep",
    "head",
    "tail",
    "tr",
    "cut",
    "sort",
    "sha256sum",
    "base64",
    "id",
    "ss",
    "timeout",
    "sleep",
    "mkdir",
    "rm",
    "chmod",
    "chown",
    "date",
    "setsid",
    "flock",
    "dirname",
    "basename",
]


def run_script(script: str, command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BASH, str(INFRA / script), command],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The failure's single stderr line, after checking that it is the only one."""
    assert result.returncode != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port on which this test process listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.fixture
def isolated_env(tmp_path: Path) -> dict[str, str]:
    """The caller's environment, with a RUN_DIR and ports that nothing else uses."""
    env = dict(os.environ)
    env["RUN_DIR"] = str(tmp_path / "run")
    env["KAFKA_PORT"] = str(free_port())
    env["KAFKA_CONTROLLER_PORT"] = str(free_port())
    env["POSTGRES_PORT"] = str(free_port())
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    return env


def path_without(tmp_path: Path, missing: set[str], extra: tuple[str, ...] = ()) -> str:
    """A PATH of one directory holding symlinks to TOOLS (+ extra), minus `missing`."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in [*TOOLS, *extra]:
        target = shutil.which(name)
        if name not in missing and target is not None:
            (bindir / name).symlink_to(target)
    for name in missing:
        assert shutil.which(name, path=str(bindir)) is None
    return str(bindir)


def test_kafka_start_without_java_fails_with_one_line(
    tmp_path: Path, isolated_env: dict[str, str]
) -> None:
    isolated_env["PATH"] = path_without(tmp_path, missing={"java", "mvn"})

    result = run_script("kafka.sh", "start", isolated_env)

    assert "java" in error_line(result)
    assert not (Path(isolated_env["RUN_DIR"]) / "kafka.pid").exists()


def test_kafka_fetch_without_mvn_fails_with_one_line(
    tmp_path: Path, isolated_env: dict[str, str]
) -> None:
    # An empty jar cache, so the jars would have to be downloaded.
    isolated_env["CACHE_DIR"] = str(tmp_path / "cache")
    isolated_env["PATH"] = path_without(tmp_path, missing={"mvn"}, extra=("java",))

    result = run_script("kafka.sh", "start", isolated_env)

    assert "mvn" in error_line(result)


@pytest.mark.parametrize("setting", ["KAFKA_PORT", "KAFKA_CONTROLLER_PORT"])
def test_kafka_start_on_a_held_port_fails_naming_it(
    setting: str, held_port: int, isolated_env: dict[str, str]
) -> None:
    isolated_env[setting] = str(held_port)

    result = run_script("kafka.sh", "start", isolated_env)

    line = error_line(result)
    assert f"port {held_port}" in line
    assert setting in line
    if shutil.which("ss"):
        assert f"pid {os.getpid()}" in line  # names the process holding it
    assert not (Path(isolated_env["RUN_DIR"]) / "kafka.pid").exists()


def test_postgres_start_on_a_held_port_fails_naming_it(
    held_port: int, isolated_env: dict[str, str]
) -> None:
    isolated_env["POSTGRES_PORT"] = str(held_port)

    result = run_script("postgres.sh", "start", isolated_env)

    line = error_line(result)
    assert f"port {held_port}" in line
    assert "POSTGRES_PORT" in line
    if shutil.which("ss"):
        assert f"pid {os.getpid()}" in line


def test_status_of_a_stopped_service_is_not_zero(isolated_env: dict[str, str]) -> None:
    # A RUN_DIR where nothing was ever started: both report "not running".
    for script in ("postgres.sh", "kafka.sh"):
        result = run_script(script, "status", isolated_env)
        assert result.returncode == 3, result.stderr
        assert "not running" in result.stdout
