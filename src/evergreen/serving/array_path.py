"""Predicting on a frame's values instead of the frame, where the flavor offers it and the
outputs are the same.

scikit-learn checks a DataFrame's column names and dtypes on every ``predict``: about 1.5 ms,
most of a 1-row request's model time, against well under 0.5 ms for the same rows as one numpy
array. A flavor may offer a predict on arrays (``Flavor.array_predict``); it is only used once
the outputs on real rows are the same as the frame's: on the version's reference rows at load
when it has them, otherwise on the first request it serves (answered the usual way, then
predicted again on its array). A model that refuses arrays, warns on them, or answers otherwise
(a pipeline that selects columns by name, say) keeps being given frames.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

Predict = Callable[[pd.DataFrame], np.ndarray]


def values(frame: pd.DataFrame) -> np.ndarray:
    """The rows as one 2-D array: the frame's own dtype when its columns share one, else
    float64 (what scikit-learn makes of mixed numeric columns)."""
    if frame._is_homogeneous_type:
        return frame.to_numpy()
    return frame.to_numpy(dtype=np.float64)


def same_outputs(expected: np.ndarray, got: np.ndarray) -> bool:
    """Whether two predictions are identical (NaN equal to NaN for floats)."""
    if expected.shape != got.shape or expected.dtype != got.dtype:
        return False
    equal_nan = expected.dtype.kind in "fc"
    return bool(np.array_equal(expected, got, equal_nan=equal_nan))


class ArrayPath:
    """``native`` on frames until ``on_array`` has given the same outputs on real rows, then
    ``on_array`` on their values. ``verdict``: None until checked, then whether it is used."""

    def __init__(
        self, native: Predict, on_array: Callable[[np.ndarray], np.ndarray], label: str
    ) -> None:
        self.native, self.on_array, self.label = native, on_array, label
        self.verdict: bool | None = None
        self._lock = threading.Lock()

    def check(self, frame: pd.DataFrame, expected: np.ndarray | None = None) -> bool:
        """Compare the two ways on ``frame`` (whose frame outputs are ``expected`` when known)
        and settle the verdict; a model that fails on the array only keeps frames."""
        with self._lock:
            if self.verdict is not None:
                return self.verdict
            try:
                if expected is None:
                    expected = np.asarray(self.native(frame))
                with warnings.catch_warnings(record=True) as raised:
                    warnings.simplefilter("always")
                    got = np.asarray(self.on_array(values(frame)))
                self.verdict = same_outputs(expected, got) and not raised
                why = f"it warns: {raised[0].message}" if raised else "outputs differ"
            except Exception as exc:  # the array path is an optimisation: never an error
                self.verdict, why = False, f"{type(exc).__name__}: {exc}"
        if self.verdict:
            log.info("%s: predicting on arrays (the same outputs as on frames)", self.label)
        else:
            log.info("%s: predicting on frames (on arrays: %s)", self.label, why)
        return self.verdict

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        if self.verdict:
            return np.asarray(self.on_array(values(frame)))
        outputs = np.asarray(self.native(frame))
        if self.verdict is None:
            self.check(frame, outputs)
        return outputs
