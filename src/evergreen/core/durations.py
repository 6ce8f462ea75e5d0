"""Durations as people write them in specs: ``90``, ``"90s"``, ``"15m"``, ``"6h"``, ``"2d"``,
``"1w"``, or a :class:`datetime.timedelta`."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


def parse_duration(value: Any) -> timedelta:
    """A non-negative duration from seconds, ``"<number><s|m|h|d|w>"`` or a timedelta."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    elif isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _PATTERN.match(value)):
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    else:
        raise ValueError(
            f"{value!r} is not a duration; write seconds (90) or a number with a unit: "
            '"90s", "15m", "6h", "2d", "1w"'
        )
    if seconds < 0:
        raise ValueError(f"duration {value!r} is negative")
    return timedelta(seconds=seconds)


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(lambda d: d.total_seconds(), return_type=float),
]
"""A pydantic field type: parsed by :func:`parse_duration`, stored as seconds."""
