"""Identifiers and model references (``churn@production``, ``churn:7``, ``churn``)."""

from __future__ import annotations

import re
import threading
import time
import uuid
from dataclasses import dataclass

from evergreen.errors import InvalidInput

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def new_id(prefix: str) -> str:
    """A new random id such as ``run-3f2a...``; the prefix tells a reader what it names."""
    return f"{prefix}-{uuid.uuid4().hex[:20]}"


_last_ordered = 0
_ordered_lock = threading.Lock()


def ordered_id(prefix: str) -> str:
    """A new id that sorts after every id this process made before (wall-clock nanoseconds,
    bumped when the clock stands still), for records whose order matters, such as audit events
    written at the same simulated instant."""
    global _last_ordered
    with _ordered_lock:
        _last_ordered = max(time.time_ns(), _last_ordered + 1)
        stamp = _last_ordered
    return f"{prefix}-{stamp:016x}{uuid.uuid4().hex[:8]}"


def check_name(name: str, what: str = "name") -> str:
    if not _NAME.match(name):
        raise InvalidInput(
            f"invalid {what} {name!r}: use letters, digits, '.', '_' or '-' (at most 128)"
        )
    return name


@dataclass(frozen=True)
class ModelRef:
    """A reference to a model version: by number, by stage, or the production one by default."""

    name: str
    version: int | None = None
    stage: str | None = None

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        if "@" in text:
            name, stage = text.split("@", 1)
            return cls(check_name(name, "model name"), stage=stage or None)
        if ":" in text:
            name, number = text.split(":", 1)
            if not number.isdigit():
                raise InvalidInput(f"invalid model reference {text!r}: expected NAME:VERSION")
            return cls(check_name(name, "model name"), version=int(number))
        return cls(check_name(text, "model name"), stage="production")

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}:{self.version}"
        return f"{self.name}@{self.stage}"
