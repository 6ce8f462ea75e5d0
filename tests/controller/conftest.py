"""A context on a simulated clock, for tests of time-based guards and schedules."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from evergreen import bootstrap
from evergreen.bootstrap import Context
from evergreen.core.clock import SimulatedClock
from evergreen.settings import Settings

START = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(START)


@pytest.fixture
def timed(tmp_path: Path, clock: SimulatedClock) -> Iterator[Context]:
    """A real context (SQLite, local artifacts) whose clock moves only when a test says."""
    ctx = bootstrap.build(Settings(home=tmp_path / "timed"), clock=clock)
    yield ctx
    ctx.close()
