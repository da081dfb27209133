"""Service processes started the way `infra/services.sh` starts them, and their CPU time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(path: Path) -> tuple[str, list[str]]:
    """A `/proc/.../stat` file's command name and the fields after it (index 0 is field 3)."""
    raw = path.read_text()
    # The command name (field 2) may hold spaces and parentheses; the fields after its last
    # ")" are fixed.
    return raw[raw.index("(") + 1:raw.rindex(")")], raw[raw.rindex(")") + 2:].split()


def _cpu(fields: list[str]) -> float:
    """User + system CPU seconds from `_stat` fields (utime and stime, fields 14 and 15)."""
    return (int(fields[11]) + int(fields[12])) / _TICKS


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (`/proc/<pid>/stat`)."""
    return _cpu(_stat(Path(f"/proc/{pid}/stat"))[1])


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and all its children so far, those that exited included.

    For PostgreSQL's postmaster: its backends come and go, and the kernel adds each one's
    time to the postmaster's cutime/cstime when it is reaped.
    """
    fields = _stat(Path(f"/proc/{pid}/stat"))[1]
    total = _cpu(fields) + (int(fields[13]) + int(fields[14])) / _TICKS  # + reaped cu/cs
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            child = _stat(entry / "stat")[1]
        except OSError:
            continue  # exited meanwhile: its time is in the postmaster's cutime by now
        if child[1] == str(pid):  # ppid
            total += _cpu(child)
    return total


def jit_threads(pid: int, proc: Path = Path("/proc")) -> dict[int, float]:
    """CPU seconds so far of each of a JVM's JIT compiler threads (`C1/C2 CompilerThread<n>`),
    by thread id. The JVM starts and stops compiler threads as the work comes and goes."""
    threads: dict[int, float] = {}
    for task in (proc / str(pid) / "task").iterdir():
        try:
            name, fields = _stat(task / "stat")
        except OSError:
            continue  # the thread ended
        # Thread names are cut to 15 characters: "C2 CompilerThre".
        if name.startswith(("C1 CompilerThre", "C2 CompilerThre")):
            threads[int(task.name)] = _cpu(fields)
    return threads


def jit_cpu_since(before: dict[int, float], after: dict[int, float]) -> float:
    """Compiler CPU seconds between two `jit_threads` samples: what the threads alive at the
    second one used since the first (a thread that ended between them is not counted)."""
    return sum(seconds - before.get(tid, 0.0) for tid, seconds in after.items())


def run_dir() -> Path:
    """The infrastructure's `RUN_DIR` (`.run` by default), where `infra/` keeps its pid files."""
    path = Path(os.environ.get("RUN_DIR", REPO_ROOT / ".run"))
    return path if path.is_absolute() else REPO_ROOT / path


def _live_pid(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return None
    return pid


def connect_pid() -> int | None:
    """The Kafka Connect worker's pid from `$RUN_DIR/connect.pid`, if it is running."""
    return _live_pid(run_dir() / "connect.pid")


def kafka_pid() -> int | None:
    """The broker's pid from `$RUN_DIR/kafka.pid`, if it is running."""
    return _live_pid(run_dir() / "kafka.pid")


def postgres_pid() -> int | None:
    """The postmaster's pid, from the data directory `infra/postgres.sh` records."""
    try:
        data_dir = Path((run_dir() / "postgres.datadir").read_text().strip())
    except OSError:
        return None
    return _live_pid(data_dir / "postmaster.pid")


class InfraCpu:
    """CPU seconds used so far by the local broker and by PostgreSQL (all its processes).

    Either is None when `infra/` did not start it (a broker elsewhere, say).
    """

    def __init__(self) -> None:
        self._kafka = kafka_pid()
        self._postgres = postgres_pid()

    def sample(self) -> tuple[float | None, float | None]:
        """(broker, PostgreSQL) CPU seconds so far."""
        return (None if self._kafka is None else cpu_seconds(self._kafka),
                None if self._postgres is None else tree_cpu_seconds(self._postgres))


@dataclass
class ServiceProcess:
    """`python -m services.<name>` with extra environment, its output in a log file."""

    name: str
    env: Mapping[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = dict(os.environ)
        # Export no spans anywhere (a trace viewer set in the shell would be timed too).
        for key in [key for key in env if key.startswith("OTEL_EXPORTER_OTLP")]:
            del env[key]
        env.update(self.env)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", f"services.{self.name}"],
                cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"{self.name} is not started")
        return self.process.pid

    def check_alive(self) -> None:
        """Raise if the process exited (with where to look)."""
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}; "
                               f"see {self.log_path}")

    def cpu(self) -> float:
        """CPU seconds used so far."""
        return cpu_seconds(self.pid)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (a clean Faust shutdown), SIGKILL after `timeout`."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        if process.poll() is None:
            process.kill()
            process.wait()
