"""Loading versions for serving: the ONNX Runtime fast path (only while the export still matches
the model), warm-up on the version's reference rows, and refusal of a version that cannot
predict on them."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from evergreen.bootstrap import Context
from evergreen.errors import InvalidState
from evergreen.flavors import Signature
from evergreen.flavors.onnx_runtime import onnx_installed
from evergreen.serving.batching import BatchingSpec
from evergreen.serving.loader import ModelLoader, OnnxPath

from .conftest import numeric_data
from .conftest import register_rentals as register

pytestmark = pytest.mark.skipif(not onnx_installed(), reason="needs the onnx extra")


def test_a_verified_export_is_served_by_onnx_runtime(context: Context) -> None:
    features, target = numeric_data(0)
    model = LinearRegression().fit(features, target)
    version = register(context, model, export_of=model)
    served = ModelLoader(context.registry, BatchingSpec(max_batch_rows=1)).load("rentals", version)
    assert served.backend == "onnxruntime"
    # the export takes one input per column; served, the columns go in as one matrix
    assert isinstance(served.predict, OnnxPath)
    assert [rank for _, _, rank in served.predict.graph.inputs] == [2]
    rows = served.model.signature.conform(features.tail(20))
    np.testing.assert_allclose(served.predict(rows), model.predict(features.tail(20)), rtol=1e-4)
    assert served.batcher is None  # batching was turned off
    native = ModelLoader(context.registry, onnx=False).load("rentals", version)
    assert native.backend == "native" and native.batcher is not None
    native.close()


def test_an_export_that_no_longer_matches_is_not_used(context: Context) -> None:
    features, target = numeric_data(0)
    model = LinearRegression().fit(features, target)
    other = LinearRegression().fit(features, target * 2 + 5)  # a different model's graph
    version = register(context, model, export_of=other)
    served = ModelLoader(context.registry).load("rentals", version)
    assert served.backend == "native"
    np.testing.assert_allclose(
        served.predict(served.model.signature.conform(features.head(5))),
        model.predict(features.head(5)),
    )
    served.close()


class Picky:
    """A custom model that fails on rows with a large temperature (like a broken release)."""

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        if (frame["temp"] > 25).any():
            raise ValueError("temperature out of range")
        return np.zeros(len(frame))


def test_a_version_that_cannot_predict_on_its_reference_rows_is_refused(context: Context) -> None:
    features, target = numeric_data(0)
    signature = Signature.infer(features, target, "regression")
    buffer = io.BytesIO()
    features.to_parquet(buffer)
    registry = context.registry
    registry.ensure_model("rentals", task="regression", target="rentals", actor="test")
    row = registry.register(
        "rentals", Picky(), flavor="python", signature=signature, actor="test",
        baseline={"reference_sha256": context.artifacts.put_bytes(buffer.getvalue()).sha256},
    )  # fmt: skip
    with pytest.raises(InvalidState, match="cannot predict on its own reference rows"):
        ModelLoader(registry).load("rentals", row.version)
