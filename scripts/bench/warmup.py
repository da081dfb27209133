"""Warming a JVM up before it is measured: until its JIT compiler has little left to do.

A broker (or Connect worker) just started compiles its hot paths for minutes. Kafka's
transaction paths run only in exactly-once drains, so a cold broker weighs on those far more
than on the at-least-once ones: on this project's 2-core machine, ten drains of 50,000 events
in a row (batch 100) took the broker from 0.27 to 0.06 CPU s per 1,000 events, its compiler
threads from 0.12 to 0.003. So each drain section first drains and discards rounds until the
compiler threads' share of the JVM's CPU over a round falls below `QUIET_SHARE`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from scripts.bench import procs

QUIET_SHARE = 0.05
MAX_ROUNDS = 30


async def warm_up(what: str, pid: int | None, one_round: Callable[[], Awaitable[None]],
                  say: Callable[[str], None]) -> None:
    """Run `one_round` (discarded) until the JVM `pid`'s compiler is quiet over one of them."""
    if pid is None:
        say(f"  warm-up: {what} was not started by infra/, so it is not watched; one round")
        await one_round()
        return
    for count in range(1, MAX_ROUNDS + 1):
        jit, cpu = procs.jit_cpu_seconds(pid), procs.cpu_seconds(pid)
        await one_round()
        share = (procs.jit_cpu_seconds(pid) - jit) / max(procs.cpu_seconds(pid) - cpu, 1e-9)
        if share < QUIET_SHARE:
            say(f"  warm-up: {what} warm after {count} round(s) (JIT compiler {share:.0%} of "
                "its CPU in the last)")
            return
    say(f"  warm-up: {what}'s JIT compiler still took {share:.0%} of its CPU after "
        f"{MAX_ROUNDS} rounds; measuring anyway")
