"""Logging set-up: every line carries the trace and span id of the work it belongs to."""

from __future__ import annotations

import logging
import logging.config
from typing import Any

from opentelemetry import trace

LOG_FORMAT = (
    "%(asctime)s %(levelname)s [%(name)s] [trace_id=%(trace_id)s span_id=%(span_id)s] %(message)s"
)


class TraceContextFilter(logging.Filter):
    """Adds `trace_id` and `span_id` of the active span (zeros when none) to each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        record.trace_id = format(context.trace_id, "032x")
        record.span_id = format(context.span_id, "016x")
        return True


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """A `logging.config.dictConfig` dictionary: stderr, trace ids on every line.

    It is the Faust app's `logging_config`, which `faust worker` applies in place of its own
    handlers; the filter sits on the handler, so records of every logger get the ids.
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"trace_context": {"()": TraceContextFilter}},
        "formatters": {"trace_context": {"format": LOG_FORMAT}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "filters": ["trace_context"],
                "formatter": "trace_context",
            }
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
    }


def configure_logging(level: str = "INFO") -> None:
    """Send logs to stderr with trace ids; call once at the entry point of a plain script."""
    logging.config.dictConfig(logging_config(level))
