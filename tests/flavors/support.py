"""Shared helpers of the flavor tests: small data, and the registry checks every flavor passes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from evergreen.errors import IntegrityFailure
from evergreen.flavors import Signature, get_flavor
from evergreen.flavors.base import Task
from evergreen.registry import Registry

ROWS = 200


def features(rows: int = ROWS, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(rows, 3)), columns=["temp", "hum", "wind"])


def regression_target(frame: pd.DataFrame) -> pd.Series:
    return (frame["temp"] * 200 + frame["hum"] ** 2 * 50 + 1000).rename("cnt")


def labels(frame: pd.DataFrame) -> pd.Series:
    """Three classes, as integers."""
    return pd.Series(np.digitize(frame["temp"] + frame["hum"], [-0.5, 0.5]), name="busy")


def signature(frame: pd.DataFrame, target: pd.Series, task: Task) -> Signature:
    return Signature.infer(frame, target, task)


def register_and_load(
    registry: Registry, model: Any, flavor: str, sig: Signature, frame: pd.DataFrame
) -> None:
    """Register ``model``, load it back through the registry and predict as the original does;
    then corrupt the stored artifact: loading fails with IntegrityFailure before the flavor's
    ``load`` sees a byte."""
    registry.ensure_model("flavored", task=sig.task, target=sig.output.name, actor="alice")
    row = registry.register("flavored", model, flavor=flavor, signature=sig, actor="alice")
    loaded = registry.load("flavored", row.version)
    assert loaded.flavor.name == flavor
    assert np.array_equal(loaded.predict(frame), np.asarray(model.predict(frame[sig.input_names])))

    blob = Path(row.artifact_uri)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.chmod(0o644)
    blob.write_bytes(bytes(data))
    flavor_class = type(get_flavor(flavor))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(flavor_class, "load", _never_called)
        with pytest.raises(IntegrityFailure, match="corrupted"):
            registry.load("flavored", row.version)


def _never_called(self: object, data: bytes) -> None:
    raise AssertionError("the flavor's load ran on bytes that failed their checksum")
