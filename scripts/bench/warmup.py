"""Warming JVMs up before they are measured: until their JIT compilers have little left to do.

A broker (or Connect worker) just started compiles its hot paths for minutes. Kafka's
transaction paths run only in exactly-once drains, so a cold broker weighs on those far more
than on the at-least-once ones: on this project's 2-core machine, ten drains of 50,000 events
in a row (batch 100) took the broker from 0.27 to 0.06 CPU s per 1,000 events, its compiler
threads from 0.12 to 0.003; and after a whole benchmark run its compiler still took 14 % of
its CPU under the end-to-end load. So each section first runs and discards rounds of its own
load until the compiler threads' share of the JVMs' CPU over a round falls below
`QUIET_SHARE`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from scripts.bench import procs

QUIET_SHARE = 0.05
MAX_ROUNDS = 30


async def warm_up(what: str, pids: Sequence[int | None],
                  one_round: Callable[[], Awaitable[None]], say: Callable[[str], None],
                  max_rounds: int = MAX_ROUNDS) -> None:
    """Run `one_round` (discarded) until the compilers of the JVMs `pids` are quiet over one,
    `max_rounds` at most.

    A pid of None (a JVM `infra/` did not start) is not watched; with none to watch, one round.
    """
    watched = [pid for pid in pids if pid is not None]
    if not watched:
        say(f"  warm-up: {what}: no JVM started by infra/ to watch; one round")
        await one_round()
        return
    for count in range(1, max_rounds + 1):
        jit, cpu = _jit_and_cpu(watched)
        await one_round()
        jit_after, cpu_after = _jit_and_cpu(watched)
        compiling = sum(procs.jit_cpu_since(jit[pid], jit_after[pid]) for pid in watched)
        share = compiling / max(cpu_after - cpu, 1e-9)
        if share < QUIET_SHARE:
            say(f"  warm-up: {what} warm after {count} round(s) (JIT compilers {share:.0%} of "
                "the CPU in the last)")
            return
    say(f"  warm-up: {what}: JIT compilers still took {share:.0%} of the CPU after "
        f"{max_rounds} round(s); measuring anyway")


def _jit_and_cpu(pids: list[int]) -> tuple[dict[int, dict[int, float]], float]:
    return ({pid: procs.jit_threads(pid) for pid in pids},
            sum(procs.cpu_seconds(pid) for pid in pids))
