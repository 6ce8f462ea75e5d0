"""The scikit-learn flavor: safe skops archives that are byte-for-byte reproducible."""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestClassifier
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from evergreen.errors import IntegrityFailure
from evergreen.flavors import OnnxExport, Signature, get_flavor, onnx_runtime
from evergreen.flavors.onnx_runtime import run, session

FLAVOR = get_flavor("sklearn")
X = np.random.default_rng(0).normal(size=(300, 4))
Y = X[:, 0] * 2 + X[:, 1]


def pipeline() -> object:
    scaler = StandardScaler()  # the same object twice: skops ties them by id
    columns = ColumnTransformer([("a", scaler, [0, 1]), ("b", scaler, [2, 3])])
    return make_pipeline(columns, HistGradientBoostingRegressor(max_iter=30, random_state=0))


@pytest.mark.parametrize(
    "make",
    [pipeline, lambda: RandomForestClassifier(n_estimators=5, random_state=0)],
    ids=["pipeline", "forest"],
)
def test_the_same_model_gives_the_same_bytes_and_loads_back(make: object) -> None:
    target = Y if make is pipeline else Y > 0
    first = make().fit(X, target)  # type: ignore[operator]
    data = FLAVOR.save(first)
    time.sleep(1.1)  # zip timestamps have two-second resolution; ids differ between objects
    again = FLAVOR.save(make().fit(X, target))  # type: ignore[operator]
    assert hashlib.sha256(data).hexdigest() == hashlib.sha256(again).hexdigest()
    assert np.array_equal(FLAVOR.load(data).predict(X), first.predict(X))
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert names == sorted(names) and "schema.json" in names


def test_other_parameters_give_other_bytes() -> None:
    a = FLAVOR.save(make_pipeline(StandardScaler()).fit(X))
    b = FLAVOR.save(make_pipeline(StandardScaler(with_mean=False)).fit(X))
    assert a != b


def test_a_file_holding_untrusted_types_is_refused() -> None:
    import skops.io as sio

    data = sio.dumps({"model": make_pipeline(StandardScaler()).fit(X), "extra": hashlib.sha256})
    with pytest.raises(IntegrityFailure, match="does not trust"):
        FLAVOR.load(data)


# -- ONNX exports, ownership, params ---------------------------------------------------------

FRAME = pd.DataFrame(X[:200], columns=["temp", "hum", "wind", "rain"])
TARGET = pd.Series(Y[:200] * 100 + 1000, name="cnt")


def test_a_plain_estimator_exports_with_an_input_per_column() -> None:
    model = LinearRegression().fit(FRAME, TARGET)
    sig = Signature.infer(FRAME, TARGET, "regression")
    export = FLAVOR.export_onnx(model, sig, FRAME)
    assert export.data is not None, export.reason
    graph = session(export.data)
    assert [i.name for i in graph.get_inputs()] == ["temp", "hum", "wind", "rain"]
    assert np.allclose(run(graph, FRAME, sig.input_names), model.predict(FRAME), rtol=1e-4)


def test_a_pipeline_with_a_string_column_exports_labels() -> None:
    frame = FRAME.assign(day=np.where(FRAME["temp"] > 0, "mon", "sun"))
    target = pd.Series(np.where(TARGET > 1000, "busy", "calm"), name="state")
    columns = ColumnTransformer(
        [("numbers", StandardScaler(), ["temp", "hum"]), ("day", OneHotEncoder(), ["day"])]
    )
    model = make_pipeline(columns, LogisticRegression()).fit(frame, target)
    sig = Signature.infer(frame, target, "classification")
    export = FLAVOR.export_onnx(model, sig, frame)
    assert export.data is not None, export.reason
    graph = session(export.data)
    assert {i.name: i.type for i in graph.get_inputs()}["day"] == "tensor(string)"
    assert np.array_equal(run(graph, frame, sig.input_names), model.predict(frame))


def test_what_skl2onnx_cannot_convert_is_refused_with_a_reason() -> None:
    model = KernelRidge().fit(FRAME, TARGET)
    export = FLAVOR.export_onnx(model, Signature.infer(FRAME, TARGET, "regression"), FRAME)
    assert export.data is None
    assert export.reason.startswith("skl2onnx cannot convert KernelRidge: MissingShapeCalculator")


def test_without_the_onnx_extra_the_export_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(onnx_runtime, "onnx_installed", lambda: False)
    model = LinearRegression().fit(FRAME, TARGET)
    export = FLAVOR.export_onnx(model, Signature.infer(FRAME, TARGET, "regression"), FRAME)
    assert export == OnnxExport(None, "onnx extra not installed (pip install 'evergreen[onnx]')")


def test_only_estimators_skops_can_load_back_are_owned() -> None:
    assert FLAVOR.owns(pipeline())
    assert FLAVOR.owns(make_pipeline(FunctionTransformer(np.log1p), LinearRegression()))
    assert not FLAVOR.owns(make_pipeline(FunctionTransformer(lambda x: x), LinearRegression()))
    assert not FLAVOR.owns(object())


def test_params_are_json_ready() -> None:
    params = FLAVOR.params(make_pipeline(StandardScaler(), LinearRegression()))
    assert params["verbose"] is False
    assert params["steps"] == [
        ["standardscaler", "StandardScaler()"],
        ["linearregression", "LinearRegression()"],
    ]
    json.dumps(params)
    assert FLAVOR.params(HistGradientBoostingRegressor(max_iter=7))["max_iter"] == 7
