"""Fake models' delays: asleep, or computing (a batch thread measures a predict by its CPU)."""

from __future__ import annotations

import time


def take(seconds: float, *, spin: bool = False) -> None:
    """Spend ``seconds``: asleep, or with ``spin`` computing on this thread."""
    if not spin:
        time.sleep(seconds)
        return
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass
