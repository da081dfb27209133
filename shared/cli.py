"""Entry point shared by the services: uvloop, logging with trace ids, the Faust worker."""

from __future__ import annotations

import sys
from collections.abc import Callable

import faust
import uvloop


def run_worker(make_app: Callable[[], faust.App]) -> None:
    """Run a service's Faust worker on uvloop; extra command-line arguments go to Faust."""
    uvloop.install()
    app = make_app()
    argv = sys.argv[1:] or ["worker", "--loglevel", "info"]
    sys.argv = [sys.argv[0], *argv]
    app.main()
