"""Entry point shared by the services: uvloop, logging with trace ids, the Faust worker."""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable

import faust
import uvloop

from shared.app import tracing_of


def run_worker(make_app: Callable[[], faust.App]) -> None:
    """Run a service's Faust worker on uvloop; extra command-line arguments go to Faust.

    The worker logs through the app's `logging_config` (`shared.logs`: trace ids on every
    line). The service's tracer provider becomes the global one as well: alone in its process,
    nothing else can claim it.
    """
    uvloop.install()
    app = make_app()
    tune_gc()
    tracing = tracing_of(app)
    if tracing is not None:
        tracing.install_globally()
    argv = sys.argv[1:] or ["worker", "--loglevel", "info"]
    sys.argv = [sys.argv[0], *argv]
    app.main()


# Faust and the Kafka client allocate several short-lived objects per record; at CPython's
# default (a young collection every 700 allocations) collecting them took about a tenth of
# the inventory's CPU under load. Collections still run, just less often.
GC_YOUNG_THRESHOLD = 20_000


def tune_gc() -> None:
    """Collect garbage less often, and never scan what the process made to start up."""
    gc.freeze()  # modules, settings, the app: they live as long as the process
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)
