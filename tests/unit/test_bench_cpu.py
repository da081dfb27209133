"""The benchmark's CPU accounting: per process from /proc, and the cost table it feeds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.bench import procs, warmup
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


def _fake_thread(proc: Path, pid: int, tid: int, name: str, utime: int, stime: int) -> None:
    task = proc / str(pid) / "task" / str(tid)
    task.mkdir(parents=True)
    # pid (comm) state ppid ... utime is field 14, stime field 15 of the whole line.
    fields = ["S", "1", *["0"] * 9, str(utime), str(stime), "0", "0"]
    (task / "stat").write_text(f"{tid} ({name}) {' '.join(fields)}\n")


def test_jit_cpu_counts_only_the_compiler_threads(tmp_path: Path) -> None:
    ticks = os.sysconf("SC_CLK_TCK")
    _fake_thread(tmp_path, 42, 43, "C2 CompilerThre", 3 * ticks, ticks)
    _fake_thread(tmp_path, 42, 44, "C1 CompilerThre", ticks, 0)
    _fake_thread(tmp_path, 42, 45, "data-plane-kafk", 50 * ticks, 9 * ticks)
    _fake_thread(tmp_path, 42, 46, "GC Thread#0", 7 * ticks, 0)
    assert procs.jit_threads(42, proc=tmp_path) == {43: 4.0, 44: 1.0}


def test_jit_cpu_since_ignores_a_compiler_thread_that_ended() -> None:
    # The JVM stops idle compiler threads: one gone must not count as negative compiling.
    before = {43: 4.0, 44: 9.0}
    after = {43: 4.5, 47: 0.25}  # 44 ended, 47 started
    assert procs.jit_cpu_since(before, after) == 0.75


async def test_warm_up_runs_rounds_until_the_compiler_is_quiet(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Each round the JVM uses 10 CPU s, of which the compiler 6, then 2, then 0.3.
    jit_per_round = iter([6.0, 2.0, 0.3, 0.1])
    clock = {"jit": 0.0, "cpu": 0.0}
    monkeypatch.setattr(procs, "jit_threads", lambda pid: {1: clock["jit"]})
    monkeypatch.setattr(procs, "cpu_seconds", lambda pid: clock["cpu"])
    rounds: list[int] = []

    async def one_round() -> None:
        rounds.append(len(rounds) + 1)
        clock["jit"] += next(jit_per_round)
        clock["cpu"] += 10.0

    said: list[str] = []
    await warmup.warm_up("the broker", [1234], one_round, said.append)
    assert rounds == [1, 2, 3]
    assert said == ["  warm-up: the broker warm after 3 round(s) (JIT compilers 3% of the CPU "
                    "in the last)"]


async def test_warm_up_gives_up_after_its_rounds(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = {"jit": 0.0, "cpu": 0.0}
    monkeypatch.setattr(procs, "jit_threads", lambda pid: {1: clock["jit"]})
    monkeypatch.setattr(procs, "cpu_seconds", lambda pid: clock["cpu"])
    rounds: list[int] = []

    async def one_round() -> None:  # a compiler that never settles
        rounds.append(1)
        clock["jit"] += 5.0
        clock["cpu"] += 10.0

    said: list[str] = []
    await warmup.warm_up("Kafka Connect", [1234, None], one_round, said.append, max_rounds=4)
    assert len(rounds) == 4
    assert said == ["  warm-up: Kafka Connect: JIT compilers still took 50% of the CPU after 4 "
                    "round(s); measuring anyway"]


async def test_warm_up_with_no_jvm_to_watch_runs_one_round() -> None:
    rounds: list[int] = []

    async def one_round() -> None:
        rounds.append(1)

    await warmup.warm_up("a broker elsewhere", [None], one_round, lambda text: None)
    assert rounds == [1]
