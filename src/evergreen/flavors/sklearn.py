"""scikit-learn models (pipelines included), stored with skops: loading executes no pickle.

ONNX exports go through skl2onnx: first with one input per signature column (pipelines whose
``ColumnTransformer`` selects columns by name convert so, string columns included); a model
that takes a plain matrix is converted with one [N, k] float input, then given per-column inputs
by ``onnx_runtime.column_inputs``.
"""

from __future__ import annotations

import copy
import io
import re
import warnings
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from evergreen.errors import IntegrityFailure
from evergreen.flavors import onnx_runtime
from evergreen.flavors.base import Flavor, OnnxExport, Signature
from evergreen.flavors.sklearn_forest import tree_by_tree
from evergreen.flavors.sklearn_linear import direct_linear

# Types outside these packages are refused at load time: a model file cannot smuggle code.
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.")


class SklearnFlavor(Flavor):
    name = "sklearn"

    def save(self, model: Any) -> bytes:
        import skops.io as sio  # imported on use: it loads all of scikit-learn

        return _stable_zip(sio.dumps(model))

    def load(self, data: bytes) -> Any:
        import skops.io as sio

        untrusted = sio.get_untrusted_types(data=data)
        refused = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES)]
        if refused:
            raise IntegrityFailure(
                f"model file holds types evergreen does not trust: {refused}; "
                "re-save it with plain scikit-learn estimators"
            )
        return sio.loads(data, trusted=untrusted)

    def owns(self, model: Any) -> bool:
        """scikit-learn estimators whose every part (nested estimators, functions) is from a
        package skops loads back here; a pipeline holding anything else is not ours."""
        from sklearn.base import BaseEstimator

        return isinstance(model, BaseEstimator) and _trusted(model)

    def array_predict(
        self, model: Any, signature: Signature
    ) -> Callable[[np.ndarray], np.ndarray] | None:
        """``predict`` on the rows' values, for numeric inputs in the order the model was fitted
        on (its ``feature_names_in_``, when it has them): scikit-learn then skips its per-call
        checks of a DataFrame's columns and dtypes, about 1.5 ms of a 1-row request. It runs on
        a shallow copy that does not know the column names, so that scikit-learn has no reason
        to warn that an array has none. A forest is predicted tree by tree
        (``sklearn_forest``): 0.04 ms for one row where its own ``predict`` takes 4 ms; a linear
        model by its matrix product alone (``sklearn_linear``): 5 us where its own takes 100."""
        fitted = getattr(model, "feature_names_in_", None)
        if any(c.dtype == "string" for c in signature.inputs):
            return None
        if fitted is not None and [str(n) for n in fitted] != signature.input_names:
            return None
        predict = _nameless(model).predict
        direct = tree_by_tree(model, predict) or direct_linear(model, predict)
        if direct is not None:
            return direct

        def on_array(rows: np.ndarray) -> np.ndarray:
            return np.asarray(predict(rows))

        return on_array

    def export_onnx(self, model: Any, signature: Signature, sample: pd.DataFrame) -> OnnxExport:
        return onnx_runtime.converted(
            lambda: _skl2onnx(model, signature), "skl2onnx", self, model, signature, sample
        )


def _skl2onnx(model: Any, signature: Signature) -> bytes:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import (
        FloatTensorType,
        StringTensorType,
    )
    from sklearn.base import is_classifier

    options = {"zipmap": False} if is_classifier(model) else None  # labels, not a list of maps
    columns = [
        (c.name, StringTensorType([None, 1]) if c.dtype == "string" else FloatTensorType([None, 1]))
        for c in signature.inputs
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # converters' deprecation noise; the result is verified
        try:
            proto = convert_sklearn(model, initial_types=columns, options=options)
        except Exception:
            if any(c.dtype == "string" for c in signature.inputs):
                raise
            matrix = [("X", FloatTensorType([None, len(columns)]))]
            proto = convert_sklearn(model, initial_types=matrix, options=options)
            proto = onnx_runtime.column_inputs(proto, signature.input_names)
    data: bytes = proto.SerializeToString()
    return data


def _nameless(model: Any) -> Any:
    """A shallow copy of ``model`` (sharing its fitted arrays) without ``feature_names_in_``; of
    a pipeline, with its first step so (the later steps see the first one's arrays)."""
    from sklearn.pipeline import Pipeline

    clone = copy.copy(model)
    if isinstance(model, Pipeline) and model.steps:
        name, first = model.steps[0]
        clone.steps = [(name, _nameless(first)), *model.steps[1:]]
    elif hasattr(clone, "__dict__"):
        clone.__dict__.pop("feature_names_in_", None)
    return clone


def _trusted(model: Any) -> bool:
    for value in [model, *model.get_params(deep=True).values()]:
        kind = value if callable(value) and not hasattr(value, "get_params") else type(value)
        module = getattr(kind, "__module__", None) or "builtins"
        if not f"{module}.".startswith(TRUSTED_PREFIXES):
            return False
    return True


def _stable_zip(data: bytes) -> bytes:
    """The same archive, made byte-for-byte reproducible: the same model always gives the same
    bytes (so the same sha256), which ``evergreen reproduce`` compares.

    skops names each array file, and tags each object, with its Python ``id`` (a memory
    address) and zips with the current time; here files and ids are renumbered by their order
    of first mention in ``schema.json`` (consistently, so shared objects stay shared), the
    entries sorted and timestamped 1980-01-01.
    """
    source = zipfile.ZipFile(io.BytesIO(data))
    schema = source.read("schema.json").decode()
    names: dict[str, str] = {}
    for found in _ARRAY_FILE.finditer(schema):
        names.setdefault(found.group(1), f"{len(names):06d}.npy")
    schema = _ARRAY_FILE.sub(lambda m: f'"{names[m.group(1)]}"', schema)
    ids: dict[str, str] = {}  # object ids (memory addresses) that tie shared objects together
    for found in _OBJECT_ID.finditer(schema):
        ids.setdefault(found.group(1), str(len(ids) + 1))
    schema = _OBJECT_ID.sub(lambda m: f'"__id__": {ids[m.group(1)]}', schema)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        entries = sorted(source.infolist(), key=lambda e: names.get(e.filename, e.filename))
        for entry in entries:
            name = names.get(entry.filename, entry.filename)
            fixed = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = entry.compress_type
            fixed.external_attr = entry.external_attr
            body = schema.encode() if name == "schema.json" else source.read(entry.filename)
            target.writestr(fixed, body)
    return out.getvalue()


_ARRAY_FILE = re.compile(r'"(\d+\.npy)"')
_OBJECT_ID = re.compile(r'"__id__": (\d+)')
