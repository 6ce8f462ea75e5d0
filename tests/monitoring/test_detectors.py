"""The detectors against river's, value by value, and their state carried between passes."""

from __future__ import annotations

import numpy as np
import pytest
from river.drift import ADWIN
from river.drift import PageHinkley as RiverPageHinkley

from evergreen.monitoring.detectors import Adwin, PageHinkley
from evergreen.pipeline.monitors import AdwinSpec, PageHinkleySpec


def stream(seed: int, kind: str) -> np.ndarray:
    """Error streams that step up (and down again): 0/1 misclassifications or absolute errors."""
    rng = np.random.default_rng(seed)
    if kind == "binary":
        rates = (0.1, 0.4, 0.1, 0.6)
        return np.concatenate([(rng.random(3000) < r).astype(float) for r in rates])
    return np.concatenate([np.abs(rng.normal(m, 1.0, 2500)) for m in (1.0, 3.0, 1.0, 4.0)])


def river_alarms(detector: object, values: np.ndarray) -> list[int]:
    alarms = []
    for i, value in enumerate(values):
        detector.update(float(value))  # type: ignore[attr-defined]
        if detector.drift_detected:  # type: ignore[attr-defined]
            alarms.append(i)
    return alarms


CASES = [(0, "binary", 20.0), (1, "binary", 50.0), (2, "absolute", 50.0), (3, "absolute", 200.0)]


@pytest.mark.parametrize(("seed", "kind", "threshold"), CASES, ids=[str(c) for c in CASES])
def test_page_hinkley_alarms_where_rivers_does(seed: int, kind: str, threshold: float) -> None:
    values = stream(seed, kind)
    spec = PageHinkleySpec(threshold=threshold)
    river = RiverPageHinkley(
        min_instances=spec.min_instances,
        delta=spec.delta,
        threshold=spec.threshold,
        alpha=1.0,
        mode="up",
    )
    expected = river_alarms(river, values)
    assert expected, "the stream must make river alarm, or the comparison shows nothing"
    assert PageHinkley(spec).update(values).positions == expected


@pytest.mark.parametrize("size", [1, 97, 1000, 70_000])
def test_page_hinkley_state_carries_across_passes(size: int) -> None:
    values = np.tile(stream(4, "binary"), 7)  # 84,000 values: more than one block
    spec = PageHinkleySpec(threshold=20.0)
    whole = PageHinkley(spec).update(values).positions
    state = None
    split: list[int] = []
    for start in range(0, len(values), size):
        detector = PageHinkley(spec, state)
        split += [start + p for p in detector.update(values[start : start + size]).positions]
        state = detector.state()
    assert split == whole and len(whole) > 3


def test_page_hinkley_forgets_state_of_another_spec() -> None:
    detector = PageHinkley(PageHinkleySpec(), None)
    detector.update(np.ones(100))
    other = PageHinkley(PageHinkleySpec(threshold=10.0), detector.state())
    assert other.n == 0 and PageHinkley(PageHinkleySpec(), detector.state()).n == 100


def test_adwin_alarms_where_rivers_does_even_across_passes() -> None:
    values = stream(5, "binary")
    spec = AdwinSpec(delta=0.002)
    expected = river_alarms(ADWIN(delta=spec.delta), values)
    assert expected
    assert Adwin(spec).update(values).positions == expected
    state = None
    split: list[int] = []
    for start in range(0, len(values), 1700):
        detector = Adwin(spec, state)
        split += [start + p for p in detector.update(values[start : start + 1700]).positions]
        state = detector.state()
    assert split == expected
    assert state is not None and state["width"] > 0
