"""Stacking many small request frames into one, fast: what a micro-batch and a prediction-log
segment both do.

``pd.concat`` of hundreds of 1-row frames costs tens of milliseconds, held under the GIL by a
background thread while requests wait. Frames that share their columns and are each one numeric
block of one dtype (what a parsed 2-D tensor gives) are stacked as numpy arrays instead: about
ten microseconds a frame.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def stack_frames(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The frames one under the other, with a fresh 0..n-1 index."""
    first = frames[0]
    arrays: list[np.ndarray] = []
    for frame in frames:
        same_columns = frame.columns is first.columns or frame.columns.equals(first.columns)
        if not same_columns or not frame._is_homogeneous_type:
            return pd.concat(frames, ignore_index=True)
        arrays.append(frame.to_numpy())
    dtype = arrays[0].dtype
    if dtype.kind not in "biuf" or any(a.dtype != dtype for a in arrays):
        return pd.concat(frames, ignore_index=True)
    return pd.DataFrame(np.vstack(arrays), columns=first.columns)
