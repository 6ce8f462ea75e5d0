"""Predicting on arrays instead of frames: used only where the outputs are the same, checked on
the version's reference rows at load, or on the first request when it has none."""

from __future__ import annotations

import gc
import logging
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from evergreen.bootstrap import Context
from evergreen.flavors import Signature, get_flavor
from evergreen.serving.array_path import ArrayPath, same_outputs, values
from evergreen.serving.loader import ModelLoader

from .conftest import numeric_data
from .conftest import register_rentals as register


def by_name() -> Pipeline:
    """A pipeline that picks its columns by name: it cannot take an array."""
    columns = ColumnTransformer([("scaled", StandardScaler(), ["temp", "humidity", "weekday"])])
    return Pipeline([("columns", columns), ("model", LinearRegression())])


def test_a_plain_estimator_predicts_on_arrays_with_the_same_outputs() -> None:
    features, target = numeric_data(0)
    model = LinearRegression().fit(features, target)
    signature = Signature.infer(features, target, "regression")
    on_array = get_flavor("sklearn").array_predict(model, signature)
    assert on_array is not None
    path = ArrayPath(lambda f: np.asarray(model.predict(f)), on_array, "rentals:1")
    rows = signature.conform(features)
    # the tests turn warnings into errors: scikit-learn must not warn about missing names
    first = path(rows)  # answered on the frame, then checked on the array
    assert path.verdict is True
    again = path(rows.head(7))
    np.testing.assert_array_equal(first, model.predict(features))
    np.testing.assert_array_equal(again, model.predict(features.head(7)))


def test_a_model_that_refuses_arrays_keeps_frames_and_never_fails_a_request(
    caplog: pytest.LogCaptureFixture,
) -> None:
    features, target = numeric_data(0)
    model = by_name().fit(features, target)
    signature = Signature.infer(features, target, "regression")
    on_array = get_flavor("sklearn").array_predict(model, signature)
    assert on_array is not None  # its names match: only trying it tells
    path = ArrayPath(lambda f: np.asarray(model.predict(f)), on_array, "rentals:1")
    with caplog.at_level(logging.INFO, logger="evergreen.serving.array_path"):
        outputs = path(signature.conform(features.head(3)))
    assert path.verdict is False
    assert "rentals:1: predicting on frames (on arrays: ValueError" in caplog.text
    np.testing.assert_array_equal(outputs, model.predict(features.head(3)))
    np.testing.assert_array_equal(path(signature.conform(features)), model.predict(features))


def test_a_pipeline_that_takes_columns_by_position_takes_arrays() -> None:
    features, target = numeric_data(2)
    model = Pipeline([("scale", StandardScaler()), ("fit", LinearRegression())])
    model.fit(features, target)
    signature = Signature.infer(features, target, "regression")
    on_array = get_flavor("sklearn").array_predict(model, signature)
    assert on_array is not None
    path = ArrayPath(lambda f: np.asarray(model.predict(f)), on_array, "p:1")
    np.testing.assert_array_equal(path(signature.conform(features)), model.predict(features))
    assert path.verdict is True
    assert list(model.feature_names_in_) == list(features.columns)  # the original is untouched


def test_an_array_path_that_warns_is_not_used() -> None:
    def noisy(rows: np.ndarray) -> np.ndarray:
        warnings.warn("careful", UserWarning, stacklevel=1)
        return rows[:, 0] * 2

    path = ArrayPath(lambda f: f["x"].to_numpy() * 2, noisy, "m:1")
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    assert not path.check(frame)
    np.testing.assert_array_equal(path(frame), [2.0, 4.0])


def test_outputs_that_differ_keep_frames() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    path = ArrayPath(lambda f: f["x"].to_numpy() * 2, lambda a: a[:, 0] * 3, "m:1")
    np.testing.assert_array_equal(path(frame), [2.0, 4.0])
    assert path.verdict is False
    np.testing.assert_array_equal(path(frame), [2.0, 4.0])


def test_no_array_path_for_strings_or_another_column_order() -> None:
    features, target = numeric_data(0)
    signature = Signature.infer(features, target, "regression")
    flavor = get_flavor("sklearn")
    reordered = LinearRegression().fit(features[["weekday", "temp", "humidity"]], target)
    assert flavor.array_predict(reordered, signature) is None
    labelled = features.assign(city="Porto")
    text = Signature.infer(labelled, target, "regression")
    assert flavor.array_predict(LinearRegression().fit(features, target), text) is None
    assert get_flavor("python").array_predict(object(), signature) is None  # the default


def test_values_and_same_outputs() -> None:
    mixed = pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5]})
    assert values(mixed).dtype == np.float64
    np.testing.assert_array_equal(values(mixed), [[1.0, 0.5], [2.0, 1.5]])
    assert values(pd.DataFrame({"a": [1, 2]})).dtype == np.int64
    assert same_outputs(np.array([1.0, np.nan]), np.array([1.0, np.nan]))
    assert not same_outputs(np.array([1, 2]), np.array([1.0, 2.0]))  # dtype
    assert not same_outputs(np.array([1.0]), np.array([1.0, 2.0]))  # shape
    assert same_outputs(np.array(["a", "b"], dtype=object), np.array(["a", "b"], dtype=object))


def test_the_loader_settles_the_path_on_reference_rows_or_the_first_request(
    context: Context,
) -> None:
    features, target = numeric_data(0)
    plain = register(context, LinearRegression().fit(features, target), reference=True)
    refuses = register(context, by_name().fit(features, target), reference=True)
    unchecked = register(context, LinearRegression().fit(features, target), reference=False)
    loader = ModelLoader(context.registry, onnx=False)
    served = {v: loader.load("rentals", v) for v in (plain, refuses, unchecked)}
    # loaded versions are frozen out of the collector's full collections (gc.get_objects()
    # lists what it still scans)
    assert not any(o is served[plain].model.model for o in gc.get_objects())
    paths = {v: s.predict for v, s in served.items()}
    assert all(isinstance(p, ArrayPath) for p in paths.values())
    assert [p.verdict for p in paths.values()] == [True, False, None]  # type: ignore[attr-defined]
    rows = served[unchecked].model.signature.conform(features.head(4))
    expected = served[unchecked].model.model.predict(features.head(4))
    np.testing.assert_array_equal(served[unchecked].predict(rows), expected)
    assert paths[unchecked].verdict is True  # type: ignore[attr-defined]
    for version, model in served.items():
        np.testing.assert_allclose(
            model.predict(model.model.signature.conform(features)),
            model.model.model.predict(features),
            err_msg=f"version {version}",
        )
        model.close()


@pytest.mark.filterwarnings("ignore:X has feature names")  # the frame path, checked once
def test_a_classifier_fitted_on_arrays_takes_arrays_too() -> None:
    features, _ = numeric_data(1)
    labels = pd.Series((features["temp"] > 20).astype("int64"), name="hot")
    model = LogisticRegression(max_iter=500).fit(features.to_numpy(), labels)
    signature = Signature.infer(features, labels, "classification")
    on_array = get_flavor("sklearn").array_predict(model, signature)
    assert on_array is not None
    path = ArrayPath(lambda f: np.asarray(model.predict(f)), on_array, "hot:1")
    np.testing.assert_array_equal(
        path(signature.conform(features)), model.predict(features.to_numpy())
    )
    assert path.verdict is True
