"""Model flavors: how each kind of model is saved, loaded and described.

Flavors load on first use (``get_flavor``), so importing this package pulls in no XGBoost,
LightGBM, PyTorch or ONNX; a flavor whose library is missing is ``Unavailable`` with the extra
to install. ``flavor_for`` picks the flavor of a native object.
"""

from __future__ import annotations

import importlib
from typing import Any

from evergreen.errors import InvalidInput, Unavailable
from evergreen.flavors.base import ColumnSpec, Flavor, LoadedModel, OnnxExport, Signature
from evergreen.flavors.sklearn import SklearnFlavor

# name -> (module, class, the extra that brings its library)
_KNOWN: dict[str, tuple[str, str, str | None]] = {
    "sklearn": ("evergreen.flavors.sklearn", "SklearnFlavor", None),
    "xgboost": ("evergreen.flavors.xgboost", "XGBoostFlavor", "xgboost"),
    "lightgbm": ("evergreen.flavors.lightgbm", "LightGBMFlavor", "lightgbm"),
    "torch": ("evergreen.flavors.torch", "TorchFlavor", "torch"),
    "onnx": ("evergreen.flavors.onnx", "OnnxFlavor", "onnx"),
    "python": ("evergreen.flavors.python", "PythonFlavor", None),
}
# The libraries each extra brings: an ImportError naming one of them means the extra is missing.
_LIBRARIES = {
    "xgboost": {"xgboost"},
    "lightgbm": {"lightgbm"},
    "torch": {"torch"},
    "onnx": {"onnx", "onnxruntime"},
}
# flavor_for asks the flavors in this order; a flavor is asked only when a class in the
# object's MRO comes from one of its modules (so no library is imported to say no).
_DETECTION: list[tuple[str, tuple[str, ...] | None]] = [
    ("xgboost", ("xgboost.",)),
    ("lightgbm", ("lightgbm.",)),
    ("torch", ("evergreen.flavors.torch.",)),
    ("onnx", ("onnx.", "evergreen.flavors.onnx.")),
    ("sklearn", ("sklearn.",)),
    ("python", None),
]
_FLAVORS: dict[str, Flavor] = {"sklearn": SklearnFlavor()}


def get_flavor(name: str) -> Flavor:
    if name in _FLAVORS:
        return _FLAVORS[name]
    if name not in _KNOWN:
        raise InvalidInput(
            f"unknown model flavor {name!r}; known flavors: {', '.join(sorted(_KNOWN))}"
        )
    module_name, class_name, extra = _KNOWN[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        missing = (exc.name or "").split(".")[0]
        if extra is None or missing not in _LIBRARIES[extra]:
            raise
        raise Unavailable(
            f"model flavor {name!r} needs {missing}, which is not installed; "
            f"pip install 'evergreen[{extra}]'"
        ) from None
    flavor: Flavor = getattr(module, class_name)()
    _FLAVORS[name] = flavor
    return flavor


def flavor_for(model: Any) -> Flavor:
    """The flavor that saves ``model``: scikit-learn estimators and pipelines → ``sklearn``,
    XGBoost's and LightGBM's scikit-learn API → ``xgboost``/``lightgbm``, evergreen's torch
    estimators → ``torch``, ONNX models → ``onnx``, anything else with ``predict`` → ``python``.
    """
    modules = [f"{getattr(kind, '__module__', '')}." for kind in type(model).__mro__]
    for name, prefixes in _DETECTION:
        if prefixes is not None and not any(m.startswith(prefixes) for m in modules):
            continue
        flavor = get_flavor(name)
        if flavor.owns(model):
            return flavor
    raise InvalidInput(
        f"no flavor can save a {type(model).__name__}: a model needs a predict(DataFrame) method"
    )


__all__ = [
    "ColumnSpec",
    "Flavor",
    "LoadedModel",
    "OnnxExport",
    "Signature",
    "SklearnFlavor",
    "flavor_for",
    "get_flavor",
]
