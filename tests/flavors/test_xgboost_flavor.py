"""The XGBoost flavor: UBJSON archives without pickle, the same bytes for the same model,
verified ONNX exports, and the registry round trip."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import xgboost

from evergreen.flavors import flavor_for, get_flavor
from evergreen.flavors.onnx_runtime import run, session
from evergreen.registry import Registry
from flavors.support import features, labels, register_and_load, regression_target, signature

FLAVOR = get_flavor("xgboost")
FRAME = features()


def regressor() -> xgboost.XGBRegressor:
    model = xgboost.XGBRegressor(n_estimators=8, max_depth=3, random_state=0, n_jobs=1)
    return model.fit(FRAME, regression_target(FRAME))


def classifier() -> xgboost.XGBClassifier:
    model = xgboost.XGBClassifier(n_estimators=8, max_depth=3, random_state=0, n_jobs=1)
    return model.fit(FRAME, labels(FRAME))


@pytest.mark.parametrize("make", [regressor, classifier], ids=["regressor", "classifier"])
def test_a_model_loads_back_and_refits_to_the_same_bytes(make: object) -> None:
    model = make()  # type: ignore[operator]
    data = FLAVOR.save(model)
    loaded = FLAVOR.load(data)
    assert type(loaded) is type(model)
    assert np.array_equal(loaded.predict(FRAME), model.predict(FRAME))
    again = FLAVOR.save(make())  # type: ignore[operator]
    assert hashlib.sha256(again).hexdigest() == hashlib.sha256(data).hexdigest()
    if isinstance(model, xgboost.XGBClassifier):
        assert np.array_equal(loaded.predict_proba(FRAME), model.predict_proba(FRAME))


def test_flavor_for_and_params() -> None:
    model = regressor()
    assert flavor_for(model) is FLAVOR
    params = FLAVOR.params(model)
    assert params["n_estimators"] == 8 and params["missing"] == "nan"
    json.dumps(params)


@pytest.mark.parametrize(
    ("make", "target", "task"),
    [(regressor, regression_target, "regression"), (classifier, labels, "classification")],
    ids=["regressor", "classifier"],
)
def test_the_onnx_export_takes_columns_by_name_and_matches(
    make: object, target: object, task: str
) -> None:
    model = make()  # type: ignore[operator]
    sig = signature(FRAME, target(FRAME), task)  # type: ignore[operator, arg-type]
    export = FLAVOR.export_onnx(model, sig, FRAME)
    assert export.data is not None, export.reason
    graph = session(export.data)
    assert [i.name for i in graph.get_inputs()] == ["temp", "hum", "wind"]
    got = run(graph, FRAME, sig.input_names)
    if task == "regression":
        assert np.allclose(got, model.predict(FRAME), rtol=1e-4)
    else:
        assert np.array_equal(got, model.predict(FRAME))


def test_a_booster_the_converter_cannot_take_is_refused_with_a_reason() -> None:
    model = xgboost.XGBRegressor(booster="gblinear", n_estimators=5).fit(
        FRAME, regression_target(FRAME)
    )
    export = FLAVOR.export_onnx(
        model, signature(FRAME, regression_target(FRAME), "regression"), FRAME
    )
    assert export.data is None
    assert "onnxmltools cannot convert XGBRegressor" in export.reason


def test_registry_round_trip_and_a_tampered_artifact(registry: Registry) -> None:
    model = classifier()
    register_and_load(
        registry, model, "xgboost", signature(FRAME, labels(FRAME), "classification"), FRAME
    )
