"""The package versions a run records: what a model's numbers depend on besides the code and
the data; ``evergreen reproduce`` shows which changed since."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

PACKAGES = (
    "evergreen",
    "numpy",
    "pandas",
    "scipy",
    "scikit-learn",
    "skops",
    "pyarrow",
    "optuna",
    "xgboost",
    "lightgbm",
    "torch",
    "onnx",
    "onnxruntime",
)


def package_versions() -> dict[str, str | None]:
    """Python's version and each of :data:`PACKAGES`' (None when not installed)."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found
