"""Durations in settings: `7d`, `12h`, `1d12h`, `90s`, ISO 8601 (`P7D`), or plain seconds.

A retention may also be `forever` (nothing is ever deleted), read as None.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, TypeAdapter, ValidationError

UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
FOREVER = "forever"
# One or more `<number><unit>` parts, largest first by convention: `1d12h`, `1.5h`, `90 s`.
_PARTS = re.compile(r"(\d+(?:\.\d+)?)\s*([wdhms])", re.IGNORECASE)
_WHOLE = re.compile(r"^(?:\s*\d+(?:\.\d+)?\s*[wdhms])+\s*$", re.IGNORECASE)
_NUMBER = re.compile(r"^\s*\d+(?:\.\d+)?\s*$")
_ISO = TypeAdapter(timedelta)

FORMAT_HELP = ("a duration such as 7d, 12h, 1d12h, 90s (units w, d, h, m, s), ISO 8601 "
               "such as P7D, or a number of seconds")


def parse_duration(value: object) -> timedelta:
    """A non-negative duration from a setting's text (or a number of seconds, or a timedelta)."""
    if isinstance(value, timedelta):
        duration = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        duration = timedelta(seconds=value)
    elif isinstance(value, str) and _NUMBER.match(value):
        duration = timedelta(seconds=float(value))
    elif isinstance(value, str) and _WHOLE.match(value):
        duration = timedelta(seconds=sum(float(number) * UNITS[unit.lower()]
                                         for number, unit in _PARTS.findall(value)))
    elif isinstance(value, str) and value.strip():
        # ISO 8601, and what str(timedelta) writes ("1 day, 2:00:00"), as pydantic reads them.
        try:
            duration = _ISO.validate_python(value.strip())
        except ValidationError:
            raise ValueError(f"{value!r} is not {FORMAT_HELP}") from None
    else:
        raise ValueError(f"{value!r} is not {FORMAT_HELP}")
    if duration < timedelta(0):
        raise ValueError(f"{value!r} is negative; a duration is 0 or more")
    return duration


def parse_retention(value: object) -> timedelta | None:
    """A duration, or None for `forever`."""
    if value is None or (isinstance(value, str) and value.strip().lower() == FOREVER):
        return None
    return parse_duration(value)


def format_duration(duration: timedelta | None) -> str:
    """A duration as a setting would spell it: `8d`, `1d12h`, `90s` -> `1m30s`; `forever`."""
    if duration is None:
        return FOREVER
    seconds = duration.total_seconds()
    if seconds == 0:
        return "0s"
    parts = []
    whole = math.floor(seconds)
    fraction = seconds - whole
    for unit in "dhm":
        count, whole = divmod(whole, UNITS[unit])
        if count:
            parts.append(f"{count}{unit}")
    if whole or fraction:
        parts.append(f"{whole + fraction:g}s")
    return "".join(parts)


# A duration setting (e.g. `CONSUMER_...=7d`).
Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
# A retention setting: a duration, or `forever` (None).
Retention = Annotated[timedelta | None, BeforeValidator(parse_retention)]
