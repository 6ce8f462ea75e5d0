"""The LightGBM flavor: text-model archives without pickle, the same bytes for the same model,
verified ONNX exports, and the registry round trip."""

from __future__ import annotations

import hashlib
import json

import lightgbm
import numpy as np
import pandas as pd
import pytest

from evergreen.flavors import flavor_for, get_flavor
from evergreen.flavors.onnx_runtime import run, session
from evergreen.registry import Registry
from flavors.support import features, labels, register_and_load, regression_target, signature

FLAVOR = get_flavor("lightgbm")
FRAME = features()
PARAMS = {"n_estimators": 8, "num_leaves": 7, "random_state": 0, "n_jobs": 1, "verbose": -1}
WORDS = labels(FRAME).map({0: "calm", 1: "busy", 2: "rush"})


def regressor() -> lightgbm.LGBMRegressor:
    return lightgbm.LGBMRegressor(**PARAMS).fit(FRAME, regression_target(FRAME))


def classifier() -> lightgbm.LGBMClassifier:
    return lightgbm.LGBMClassifier(**PARAMS).fit(FRAME, WORDS)


@pytest.mark.parametrize("make", [regressor, classifier], ids=["regressor", "classifier"])
def test_a_model_loads_back_and_refits_to_the_same_bytes(make: object) -> None:
    model = make()  # type: ignore[operator]
    data = FLAVOR.save(model)
    loaded = FLAVOR.load(data)
    assert type(loaded) is type(model)
    assert np.array_equal(loaded.predict(FRAME), model.predict(FRAME))
    assert list(loaded.feature_names_in_) == list(FRAME.columns)
    assert FLAVOR.save(loaded) == data
    again = FLAVOR.save(make())  # type: ignore[operator]
    assert hashlib.sha256(again).hexdigest() == hashlib.sha256(data).hexdigest()
    if isinstance(model, lightgbm.LGBMClassifier):
        assert list(loaded.classes_) == ["busy", "calm", "rush"]
        assert np.array_equal(loaded.predict_proba(FRAME), model.predict_proba(FRAME))


def test_flavor_for_and_params() -> None:
    model = classifier()
    assert flavor_for(model) is FLAVOR
    params = FLAVOR.params(model)
    assert params["num_leaves"] == 7
    json.dumps(params)


@pytest.mark.parametrize(
    ("make", "target", "task"),
    [
        (regressor, regression_target, "regression"),
        (classifier, lambda _: WORDS, "classification"),
    ],
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


def test_a_model_the_converter_gets_wrong_or_cannot_take_is_refused_with_a_reason() -> None:
    model = lightgbm.LGBMRegressor(**PARAMS, linear_tree=True).fit(FRAME, regression_target(FRAME))
    sig = signature(FRAME, regression_target(FRAME), "regression")
    export = FLAVOR.export_onnx(model, sig, FRAME)
    assert export.data is None
    assert export.reason.startswith(("outputs differ by up to", "onnxmltools cannot convert"))


def test_string_columns_are_refused_with_a_reason() -> None:
    frame = FRAME.assign(day=np.where(FRAME["temp"] > 0, "mon", "tue"))
    sig = signature(frame, pd.Series(regression_target(FRAME)), "regression")
    export = FLAVOR.export_onnx(regressor(), sig, frame)
    assert export.data is None and "string columns" in export.reason


def test_registry_round_trip_and_a_tampered_artifact(registry: Registry) -> None:
    sig = signature(FRAME, regression_target(FRAME), "regression")
    register_and_load(registry, regressor(), "lightgbm", sig, FRAME)
