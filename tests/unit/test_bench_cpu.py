"""The benchmark's CPU accounting: per process from /proc, and the cost table it feeds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.bench import procs
from scripts.bench.drain import Drain
from scripts.bench.report import Results, cost_table

BURN = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"


def test_a_process_tree_counts_children_that_already_exited() -> None:
    # As PostgreSQL's backends do: a child burns CPU and exits before the second sample.
    before_own = procs.cpu_seconds(os.getpid())
    before_tree = procs.tree_cpu_seconds(os.getpid())
    subprocess.run([sys.executable, "-c", BURN], check=True)
    own = procs.cpu_seconds(os.getpid()) - before_own
    tree = procs.tree_cpu_seconds(os.getpid()) - before_tree
    assert tree - own >= 0.25


def test_infra_cpu_finds_the_processes_by_their_pid_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = tmp_path / "pgdata"
    data_dir.mkdir()
    (data_dir / "postmaster.pid").write_text(f"{os.getpid()}\n{data_dir}\n")
    (tmp_path / "postgres.datadir").write_text(f"{data_dir}\n")
    (tmp_path / "kafka.pid").write_text(f"{os.getpid()}\n")
    monkeypatch.setenv("RUN_DIR", str(tmp_path))
    broker, postgres = procs.InfraCpu().sample()
    assert broker is not None
    assert broker > 0
    assert postgres is not None
    assert postgres >= broker  # the same process, children included


def test_infra_cpu_is_none_for_what_is_not_running(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "kafka.pid").write_text(f"{dead.pid}\n")  # a process that has exited
    monkeypatch.setenv("RUN_DIR", str(tmp_path))  # and no postgres.datadir at all
    assert procs.InfraCpu().sample() == (None, None)


def test_cost_table_adds_the_processes_up_per_1000_events() -> None:
    results = Results(drain_rows={100: 10_000})
    results.drain[("eos", 100)] = [Drain(10_000, 2.0, 0.8, 0.5, 0.4),
                                   Drain(10_000, 2.0, 1.0, 0.7, 0.6)]
    results.drain[("alos", 100)] = [Drain(10_000, 1.0, 0.6)]  # no broker or PostgreSQL found
    results.debezium_drain["default"] = [Drain(10_000, 5.0, 2.0, 0.3, 0.2)]
    lines = cost_table(results).splitlines()
    cells = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[3:7]]
             for line in lines[2:]}
    assert cells["relay, exactly once"] == [
        "0.090 (0.080-0.100)", "0.060 (0.050-0.070)", "0.050 (0.040-0.060)",
        "0.200 (0.170-0.230)"]
    assert cells["relay, at least once"] == ["0.060", "-", "-", "-"]
    assert cells["Debezium default"] == ["0.200", "0.030", "0.020", "0.250"]
