"""The deterministic core of a run, shared by the runner and ``evergreen reproduce``: prepare
and split the raw rows, fit a fresh model, predict; and the package versions a run records."""

from __future__ import annotations

import platform
import time
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np
import pandas as pd

from evergreen.data.splits import SplitSpec, split
from evergreen.pipeline.project import Project

# What a model's numbers depend on, besides the code and the data.
PACKAGES = ("evergreen", "numpy", "pandas", "scipy", "scikit-learn", "skops", "pyarrow")


def prepare_split(
    project: Project, raw: pd.DataFrame, spec: SplitSpec | None = None
) -> tuple[list[str], pd.DataFrame, pd.DataFrame]:
    """(feature columns, training rows, holdout rows) of ``raw``, by the project's split (or
    ``spec``); rows without a target are dropped."""
    prepared = project.prepared(raw)
    features = project.feature_columns(prepared)
    prepared = prepared.dropna(subset=[project.target])
    train, holdout = split(prepared, spec or project.split)
    return features, train, holdout


def fit_model(project: Project, train: pd.DataFrame, features: list[str]) -> tuple[Any, float]:
    """A fresh model fitted on ``train``, and the seconds it took."""
    model = project.build_model()
    started = time.perf_counter()
    model.fit(train[features], train[project.target])
    return model, round(time.perf_counter() - started, 3)


def predict(model: Any, frame: pd.DataFrame, features: list[str]) -> np.ndarray:
    return np.asarray(model.predict(frame[features]))


def package_versions() -> dict[str, str | None]:
    """Python's version and each of :data:`PACKAGES`' (None when not installed)."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found
