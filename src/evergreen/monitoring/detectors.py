"""Drift detectors on the per-request error stream: Page-Hinkley and ADWIN.

The stream is the error of each labelled row (0/1 misclassification, or the absolute error of a
regression), in the order the labels arrived. A detector keeps its state between passes (in the
details of its last result), and each pass feeds it only the rows whose labels arrived since the
previous pass, so an alarm is never raised twice on the same rows.

Page-Hinkley is vectorised numpy (cumulative sums per block of the stream); it equals river's
``river.drift.PageHinkley(mode="up", alpha=1.0)`` (no forgetting: errors that grow raise it).
ADWIN is river's ``river.drift.ADWIN``; its state travels pickled (base64) in the result's
details, which only this module writes.
"""

from __future__ import annotations

import base64
import pickle
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from evergreen.pipeline.monitors import AdwinSpec, PageHinkleySpec

BLOCK = 65_536  # most values per vectorised step (the work redone after an alarm) ...
FIRST_BLOCK = 2_048  # ... starting from this many after an alarm, doubling while none comes


@dataclass
class Alarms:
    """What one pass of a detector saw: how many values it was fed and where it alarmed
    (positions in the values fed this pass)."""

    fed: int
    positions: list[int] = field(default_factory=list)


class Detector(Protocol):
    name: str

    def update(self, values: np.ndarray) -> Alarms: ...

    def state(self) -> dict[str, Any]: ...


class PageHinkley:
    """Page-Hinkley test for an increase of the mean: with the running mean ``x̄_t``,
    ``S_t = Σ (x_i - x̄_i - delta)`` and ``m_t = min S``, alarm when ``S_t - m_t > threshold``
    after ``min_instances`` values; after an alarm it starts afresh."""

    name = "page_hinkley"

    def __init__(self, spec: PageHinkleySpec, state: dict[str, Any] | None = None) -> None:
        self.spec = spec
        self._reset()
        if state and state.get("spec") == spec.model_dump():
            self.n = int(state["n"])
            self.total = float(state["total"])
            self.sum = float(state["sum"])
            self.min = float("inf") if state["min"] is None else float(state["min"])

    def _reset(self) -> None:
        self.n, self.total, self.sum, self.min = 0, 0.0, 0.0, float("inf")

    def update(self, values: np.ndarray) -> Alarms:
        x = np.asarray(values, dtype=np.float64)
        alarms = Alarms(len(x))
        start, size = 0, FIRST_BLOCK
        while start < len(x):
            block = x[start : start + size]
            hit = self._block(block)
            if hit is None:
                start += len(block)
                size = min(2 * size, BLOCK)
            else:
                alarms.positions.append(start + hit)
                self._reset()
                start += hit + 1
                size = FIRST_BLOCK  # alarms may come close together: redo little after each
        return alarms

    def _block(self, x: np.ndarray) -> int | None:
        """Feed ``x``; the offset of the first alarm (the state then stops there) or None."""
        spec = self.spec
        seen = self.n + np.arange(1, len(x) + 1)
        mean = (self.total + np.cumsum(x)) / seen
        running = self.sum + np.cumsum(x - mean - spec.delta)
        lowest = np.minimum(np.minimum.accumulate(running), self.min)
        alarm = (seen >= spec.min_instances) & (running - lowest > spec.threshold)
        end = int(np.argmax(alarm)) if alarm.any() else len(x) - 1
        self.n = int(seen[end])
        self.total += float(np.sum(x[: end + 1]))
        self.sum, self.min = float(running[end]), float(lowest[end])
        return end if alarm[end] else None

    def state(self) -> dict[str, Any]:
        return {
            "spec": self.spec.model_dump(),
            "n": self.n,
            "total": self.total,
            "sum": self.sum,
            "min": None if self.min == float("inf") else self.min,
        }


class Adwin:
    """river's ADWIN (adaptive windowing) over the stream, its state carried between passes."""

    name = "adwin"

    def __init__(self, spec: AdwinSpec, state: dict[str, Any] | None = None) -> None:
        from river.drift import ADWIN  # imported on use: river is slow to import

        self.spec = spec
        if state and state.get("spec") == spec.model_dump() and state.get("pickle"):
            # written by state() below into this version's own monitor results
            self.detector = pickle.loads(base64.b64decode(state["pickle"]))
        else:
            self.detector = ADWIN(delta=spec.delta)  # type: ignore[no-untyped-call]

    def update(self, values: np.ndarray) -> Alarms:
        detector = self.detector
        alarms = Alarms(len(values))
        # river's ADWIN.update only resets after an alarm and hands the value to its compiled
        # helper; calling the helper directly does the same at half the cost per value
        step = detector._helper.update
        for i, value in enumerate(np.asarray(values, dtype=np.float64).tolist()):
            if step(value):
                alarms.positions.append(i)
                detector._reset()
                step = detector._helper.update
        return alarms

    def state(self) -> dict[str, Any]:
        return {
            "spec": self.spec.model_dump(),
            "width": float(self.detector.width),
            "estimation": float(self.detector.estimation),
            "pickle": base64.b64encode(pickle.dumps(self.detector)).decode("ascii"),
        }
