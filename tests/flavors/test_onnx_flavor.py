"""The ONNX flavor (models that are ONNX graphs) and the shared ONNX helpers: graphs fed column
by column or as one matrix, signatures read from graphs, exports checked against models."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pandas as pd
import pytest
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.linear_model import LinearRegression, LogisticRegression

from evergreen.errors import InvalidInput
from evergreen.flavors import OnnxExport, flavor_for, get_flavor
from evergreen.flavors.onnx import OnnxModel, infer_signature
from evergreen.flavors.onnx_runtime import Graph, column_inputs, compare, matrix_input, session
from evergreen.registry import Registry
from flavors.support import features, labels, register_and_load, regression_target, signature

FLAVOR = get_flavor("onnx")
FRAME = features()
TARGET = regression_target(FRAME)


def matrix_graph(model: object, columns: list[str] | None = None) -> bytes:
    """``model`` as skl2onnx converts it by default: one [N, k] float input named X."""
    proto = convert_sklearn(model, initial_types=[("X", FloatTensorType([None, 3]))])
    if columns is not None:
        entry = proto.metadata_props.add()
        entry.key, entry.value = "feature_names", json.dumps(columns)
    data: bytes = proto.SerializeToString()
    return data


def column_graph(model: object) -> bytes:
    proto = convert_sklearn(model, initial_types=[("X", FloatTensorType([None, 3]))])
    data: bytes = column_inputs(proto, list(FRAME.columns)).SerializeToString()
    return data


def test_a_graph_with_an_input_per_column_states_its_signature() -> None:
    sklearn_model = LinearRegression().fit(FRAME, TARGET)
    model = FLAVOR.load(column_graph(sklearn_model))
    sig = infer_signature(model)
    assert sig.input_names == ["temp", "hum", "wind"]
    assert (sig.task, sig.output.dtype) == ("regression", "float64")
    shuffled = FRAME[["wind", "temp", "hum"]]  # fed by name
    assert np.allclose(model.predict(shuffled), sklearn_model.predict(FRAME), rtol=1e-5)
    assert flavor_for(model) is FLAVOR and FLAVOR.save(model) == model.data


def test_a_matrix_graph_needs_column_names_from_its_metadata_or_a_signature() -> None:
    sklearn_model = LogisticRegression().fit(FRAME, labels(FRAME))
    named = FLAVOR.load(matrix_graph(sklearn_model, ["temp", "hum", "wind"]))
    sig = infer_signature(named)
    assert sig.input_names == ["temp", "hum", "wind"] and sig.task == "classification"
    assert np.array_equal(named.predict(FRAME), sklearn_model.predict(FRAME))
    with pytest.raises(InvalidInput, match="does not name its columns; pass --signature FILE"):
        infer_signature(FLAVOR.load(matrix_graph(sklearn_model)))
    with pytest.raises(InvalidInput, match="does not fit its input"):
        infer_signature(FLAVOR.load(matrix_graph(sklearn_model, ["temp"])))


def test_an_onnx_model_proto_is_owned_and_bad_bytes_are_refused() -> None:
    proto = onnx.load_from_string(matrix_graph(LinearRegression().fit(FRAME, TARGET)))
    assert flavor_for(proto) is FLAVOR
    assert FLAVOR.params(proto)["producer"] == "skl2onnx"
    with pytest.raises(InvalidInput, match="not a readable ONNX model"):
        FLAVOR.load(b"not a graph")


def test_the_export_of_an_onnx_model_is_the_model() -> None:
    model = OnnxModel(column_graph(LinearRegression().fit(FRAME, TARGET)))
    export = FLAVOR.export_onnx(model, signature(FRAME, TARGET, "regression"), FRAME)
    assert export.data == model.data


def test_an_export_is_verified_on_at_least_one_row() -> None:
    model = LinearRegression().fit(FRAME, TARGET)
    sklearn_flavor = get_flavor("sklearn")
    export = sklearn_flavor.export_onnx(model, signature(FRAME, TARGET, "regression"), FRAME[:0])
    assert export == OnnxExport(None, "no sample rows to verify the export on")


def test_registry_round_trip_and_a_tampered_artifact(registry: Registry) -> None:
    model = OnnxModel(column_graph(LinearRegression().fit(FRAME, TARGET)))
    register_and_load(registry, model, "onnx", signature(FRAME, TARGET, "regression"), FRAME)


@pytest.mark.parametrize(
    ("expected", "got", "task", "reason"),
    [
        (np.array([1000.0, 2000.0]), np.array([1000.01, 2000.0], np.float32), "regression", None),
        (np.array([1000.0, 2000.0]), np.array([1001.0, 2000.0]), "regression", "up to 1"),
        (np.array([True, False]), np.array([1, 0]), "classification", None),
        (np.array(["a", "b"], dtype=object), np.array(["a", "b"]), "classification", None),
        (np.zeros(1000, int), np.r_[np.ones(1), np.zeros(999)], "classification", None),
        (np.zeros(1000, int), np.r_[np.ones(2), np.zeros(998)], "classification", "0.2% of"),
        (np.zeros(3), np.zeros((3, 2)), "regression", "shape"),
    ],
    ids=["close", "far", "bool-labels", "string-labels", "1-in-1000", "2-in-1000", "shape"],
)
def test_compare(expected: np.ndarray, got: np.ndarray, task: str, reason: str | None) -> None:
    found = compare(expected, got, task)  # type: ignore[arg-type]
    assert found is None if reason is None else (found is not None and reason in found)


def test_column_inputs_refuses_names_that_clash_with_the_graph() -> None:
    proto = convert_sklearn(
        LinearRegression().fit(FRAME, TARGET), initial_types=[("X", FloatTensorType([None, 3]))]
    )
    taken = proto.graph.node[0].output[0]
    with pytest.raises(ValueError, match="clash"):
        column_inputs(proto, ["temp", taken, "wind"])


def test_a_frame_that_does_not_fit_the_graph_is_invalid_input() -> None:
    model = FLAVOR.load(column_graph(LinearRegression().fit(FRAME, TARGET)))
    with pytest.raises(InvalidInput, match="cannot feed the ONNX model"):
        model.predict(pd.DataFrame({"a": [1.0], "b": [2.0]}))


def test_matrix_input_undoes_column_inputs_and_leaves_other_graphs_alone() -> None:
    sklearn_model = LinearRegression().fit(FRAME, TARGET)
    matrix = matrix_input(column_graph(sklearn_model))
    assert matrix is not None
    graph = Graph(session(matrix))
    assert [(name, rank) for name, _, rank in graph.inputs] == [("evergreen_columns", 2)]
    assert not graph.per_column
    predicted = graph.run(FRAME, list(FRAME.columns))
    assert np.allclose(predicted, sklearn_model.predict(FRAME), rtol=1e-5)
    reordered = graph.run(FRAME[["wind", "temp", "hum"]], list(FRAME.columns))  # by name
    assert np.allclose(reordered, predicted)
    assert matrix_input(matrix_graph(sklearn_model)) is None  # not made by column_inputs
    assert matrix_input(matrix) is None


def test_a_graph_fed_from_one_array_matches_one_fed_column_by_column() -> None:
    sklearn_model = LinearRegression().fit(FRAME, TARGET)
    graph = Graph(session(column_graph(sklearn_model)))
    assert graph.block_dtype is np.float32  # every input a float column: fed from one array
    fast = graph.run(FRAME, list(FRAME.columns))
    by_name = graph.run(FRAME[["hum", "wind", "temp"]], list(FRAME.columns))  # column by column
    assert np.array_equal(fast, by_name)
    assert np.allclose(fast, sklearn_model.predict(FRAME), rtol=1e-5)
