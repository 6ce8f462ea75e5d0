from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from evergreen.errors import InvalidInput
from evergreen.flavors import LoadedModel, Signature, SklearnFlavor
from evergreen.flavors.base import ColumnSpec
from evergreen.serving.protocols import v2

SIGNATURE = Signature(
    inputs=[
        ColumnSpec(name="temp", dtype="float64"),
        ColumnSpec(name="weekday", dtype="int64"),
        ColumnSpec(name="city", dtype="string"),
    ],
    output=ColumnSpec(name="rentals", dtype="float64"),
    task="regression",
)


def tensor(name: str, shape: list[int], datatype: str, data: Any) -> dict[str, Any]:
    return {"name": name, "shape": shape, "datatype": datatype, "data": data}


def columns(**overrides: dict[str, Any]) -> dict[str, Any]:
    base = {
        "temp": tensor("temp", [2], "FP64", [20.5, 18.0]),
        "weekday": tensor("weekday", [2, 1], "INT64", [[1], [6]]),
        "city": tensor("city", [2], "BYTES", ["oslo", "rome"]),
    }
    base.update(overrides)
    return {"inputs": list(base.values())}


def test_one_tensor_per_column() -> None:
    request = v2.parse_infer_request({"id": "r-1", **columns()}, SIGNATURE)
    assert request.id == "r-1"
    expected = pd.DataFrame({"temp": [20.5, 18.0], "weekday": [1, 6], "city": ["oslo", "rome"]})
    pd.testing.assert_frame_equal(SIGNATURE.conform(request.frame), SIGNATURE.conform(expected))


def test_columns_may_come_in_any_order() -> None:
    body = columns()
    body["inputs"].reverse()
    frame = v2.parse_infer_request(body, SIGNATURE).frame
    assert list(frame.columns) == SIGNATURE.input_names


def test_one_matrix_maps_columns_in_signature_order() -> None:
    body = {"inputs": [tensor("x", [2, 3], "BYTES", [["1.5", "2", "a"], ["3", "4", "b"]])]}
    frame = SIGNATURE.conform(v2.parse_infer_request(body, SIGNATURE).frame)
    assert frame["temp"].tolist() == [1.5, 3.0]
    assert frame["weekday"].tolist() == [2, 4]
    assert frame["city"].tolist() == ["a", "b"]


def test_flat_data_is_read_row_major() -> None:
    signature = Signature(
        inputs=[ColumnSpec(name="a", dtype="float64"), ColumnSpec(name="b", dtype="float64")],
        output=ColumnSpec(name="y", dtype="float64"),
        task="regression",
    )
    body = {"inputs": [tensor("input-0", [2, 2], "FP32", [1, 2, 3, 4])]}
    frame = v2.parse_infer_request(body, signature).frame
    assert frame["a"].tolist() == [1.0, 3.0]
    assert frame["b"].tolist() == [2.0, 4.0]


def test_missing_id_is_generated() -> None:
    first = v2.parse_infer_request(columns(), SIGNATURE).id
    second = v2.parse_infer_request(columns(), SIGNATURE).id
    assert first
    assert second
    assert first != second


def test_null_in_floats_is_nan() -> None:
    body = columns(temp=tensor("temp", [2], "FP64", [None, 1.0]))
    frame = v2.parse_infer_request(body, SIGNATURE).frame
    assert np.isnan(frame["temp"][0])


@pytest.mark.parametrize(
    ("datatype", "data", "dtype"),
    [
        ("BOOL", [True, False], np.bool_),
        ("INT8", [-128, 127], np.int8),
        ("INT16", [1, 2], np.int16),
        ("INT32", [1, 2], np.int32),
        ("INT64", [1, 2], np.int64),
        ("UINT8", [0, 255], np.uint8),
        ("UINT16", [1, 2], np.uint16),
        ("UINT32", [1, 2], np.uint32),
        ("UINT64", [1, 2], np.uint64),
        ("FP16", [0.5, 1], np.float16),
        ("FP32", [0.5, 1], np.float32),
        ("FP64", [0.5, 1], np.float64),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_every_numeric_datatype(datatype: str, data: list[Any], dtype: type) -> None:
    body = columns(weekday=tensor("weekday", [2], datatype, data))
    frame = v2.parse_infer_request(body, SIGNATURE).frame
    assert frame["weekday"].dtype == np.dtype(dtype)


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ([], "JSON object"),
        ({"inputs": []}, "'inputs'"),
        ({"id": 7, **columns()}, "'id'"),
        ({"inputs": ["x"]}, "inputs[0]"),
        ({"inputs": [{"shape": [1], "datatype": "FP64", "data": [1]}]}, "inputs[0].name"),
        (columns(temp=tensor("temp", [2], "FLOAT99", [1, 2])), "'temp'"),
        (columns(temp=tensor("temp", [3], "FP64", [1.0, 2.0])), "'temp'"),
        (columns(temp=tensor("temp", [-2], "FP64", [1.0, 2.0])), "'temp'"),
        (columns(temp=tensor("temp", "2", "FP64", [1.0, 2.0])), "'temp'"),
        (columns(temp={"name": "temp", "shape": [2], "datatype": "FP64"}), "'temp'"),
        (columns(temp=tensor("temp", [2], "FP64", "1,2")), "'temp'"),
        (columns(temp=tensor("temp", [2], "FP64", ["a", "b"])), "'temp'"),
        (columns(temp=tensor("temp", [2], "FP64", [[1.0], [2.0, 3.0]])), "'temp'"),
        (columns(weekday=tensor("weekday", [2], "INT64", [1.5, 2])), "'weekday'"),
        (columns(weekday=tensor("weekday", [2], "INT8", [1, 300])), "'weekday'"),
        (columns(weekday=tensor("weekday", [2], "UINT8", [-1, 3])), "'weekday'"),
        (columns(weekday=tensor("weekday", [2], "BOOL", [1, 0])), "'weekday'"),
        (columns(city=tensor("city", [2], "BYTES", ["a", None])), "'city'"),
        (columns(temp=tensor("temp", [2, 2], "FP64", [1, 2, 3, 4])), "'temp'"),
        (columns(temp=tensor("temp", [3], "FP64", [1, 2, 3])), "'temp'"),
        (columns(temp=tensor("temp", [0], "FP64", [])), "'temp'"),
        (columns(temp=tensor("tmp", [2], "FP64", [1, 2])), "'tmp'"),
        ({"inputs": columns()["inputs"][:2]}, "'city'"),
        ({"inputs": [*columns()["inputs"], columns()["inputs"][0]]}, "'temp'"),
        ({"inputs": [tensor("x", [2, 2], "FP64", [1, 2, 3, 4])]}, "'x'"),
    ],
    ids=[
        "body-not-object",
        "no-inputs",
        "id-not-string",
        "tensor-not-object",
        "tensor-without-name",
        "unknown-datatype",
        "shape-vs-data",
        "negative-shape",
        "shape-not-list",
        "no-data",
        "data-not-list",
        "strings-as-floats",
        "ragged-data",
        "floats-as-ints",
        "int8-overflow",
        "uint-negative",
        "ints-as-bool",
        "null-bytes",
        "wide-column",
        "rows-differ",
        "no-rows",
        "unknown-input",
        "missing-input",
        "duplicate-input",
        "matrix-wrong-width",
    ],
)
def test_bad_requests_name_the_field(body: Any, names: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        v2.parse_infer_request(body, SIGNATURE)
    assert names in str(caught.value)


def loaded(signature: Signature = SIGNATURE) -> LoadedModel:
    return LoadedModel("rentals", 3, SklearnFlavor(), object(), signature)


def test_response_names_model_version_and_output() -> None:
    body = v2.infer_response(loaded(), "r-9", np.array([1.5, 2.5]))
    assert body == {
        "model_name": "rentals",
        "model_version": "3",
        "id": "r-9",
        "outputs": [{"name": "rentals", "datatype": "FP64", "shape": [2], "data": [1.5, 2.5]}],
    }


@pytest.mark.parametrize(
    ("outputs", "datatype", "data"),
    [
        (np.array([1, 2], dtype=np.int64), "INT64", [1, 2]),
        (np.array([1.0, 2.0], dtype=np.float32), "FP32", [1.0, 2.0]),
        (np.array([True, False]), "BOOL", [True, False]),
        (np.array(["busy", "quiet"], dtype=object), "BYTES", ["busy", "quiet"]),
        (np.array(["busy", "quiet"]), "BYTES", ["busy", "quiet"]),
        (np.array([np.nan, 1.0]), "FP64", [None, 1.0]),
    ],
    ids=["int64", "fp32", "bool", "object", "unicode", "nan"],
)
def test_response_datatypes(outputs: np.ndarray, datatype: str, data: list[Any]) -> None:
    output = v2.infer_response(loaded(), "r", outputs)["outputs"][0]
    assert (output["datatype"], output["data"]) == (datatype, data)


def test_model_metadata() -> None:
    assert v2.model_metadata(loaded()) == {
        "name": "rentals",
        "versions": ["3"],
        "platform": "evergreen-sklearn",
        "inputs": [
            {"name": "temp", "datatype": "FP64", "shape": [-1]},
            {"name": "weekday", "datatype": "INT64", "shape": [-1]},
            {"name": "city", "datatype": "BYTES", "shape": [-1]},
        ],
        "outputs": [{"name": "rentals", "datatype": "FP64", "shape": [-1]}],
    }


@pytest.mark.parametrize(
    ("extra", "names"),
    [
        ({"outputs": [{"name": "proba"}]}, "'proba'"),
        ({"outputs": "rentals"}, "'outputs'"),
        ({"outputs": [{"parameters": {}}]}, "outputs[0]"),
        ({"parameters": "binary"}, "'parameters'"),
    ],
    ids=["unknown-output", "outputs-not-list", "output-without-name", "parameters-not-object"],
)
def test_bad_outputs_name_the_field(extra: dict[str, Any], names: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        v2.parse_infer_request({**columns(), **extra}, SIGNATURE)
    assert names in str(caught.value)


def test_empty_id_is_generated() -> None:
    assert v2.parse_infer_request({"id": "", **columns()}, SIGNATURE).id


def test_nested_matrix_data() -> None:
    body = {"inputs": [tensor("x", [1, 3], "BYTES", [["20.5", "2", "oslo"]])]}
    frame = SIGNATURE.conform(v2.parse_infer_request(body, SIGNATURE).frame)
    assert frame.iloc[0].tolist() == [20.5, 2, "oslo"]


def test_frame_from_typed_tensors() -> None:
    tensors = [
        v2.make_tensor("city", "BYTES", (2,), np.array(["oslo", "rome"], dtype=object)),
        v2.make_tensor("temp", "FP32", (2, 1), np.array([1.5, 2.5], dtype=np.float32)),
        v2.make_tensor("weekday", "UINT8", (2,), np.array([1, 6], dtype=np.uint8)),
    ]
    frame = SIGNATURE.conform(v2.frame_from_tensors(tensors, SIGNATURE))
    assert frame.to_dict("list") == {
        "temp": [1.5, 2.5],
        "weekday": [1, 6],
        "city": ["oslo", "rome"],
    }


def test_make_tensor_checks_the_shape() -> None:
    with pytest.raises(InvalidInput, match="'temp'"):
        v2.make_tensor("temp", "FP64", (3,), np.array([1.0, 2.0]))


# -- every REST path over the real gateway ------------------------------------------------------


@pytest.fixture(scope="module")
def rest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    from .v2_served import serve

    with (
        serve(tmp_path_factory.mktemp("rest") / "eg", grpc_port=None) as running,
        httpx.Client(base_url=f"http://{running.http}", timeout=10) as client,
    ):
        yield client


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v2", {"name": "evergreen"}),
        ("/v2/", {"name": "evergreen"}),
        ("/v2/health/live", {"live": True}),
        ("/v2/health/ready", {"ready": True}),
        ("/v2/models/rentals", {"name": "rentals", "versions": ["2"]}),
        ("/v2/models/rentals/versions/1", {"name": "rentals", "versions": ["1"]}),
        ("/v2/models/rentals/ready", {"name": "rentals", "ready": True}),
        ("/v2/models/rentals/versions/2/ready", {"name": "rentals", "ready": True}),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_every_get_path(rest: httpx.Client, path: str, expected: dict[str, Any]) -> None:
    response = rest.get(path)
    assert response.status_code == 200, response.text
    body = response.json()
    assert {k: body[k] for k in expected} == expected


@pytest.mark.parametrize(
    "path",
    [
        "/v2/models/nope",
        "/v2/models/nope/ready",
        "/v2/models/rentals/versions/9",
        "/v2/models/rentals/versions/9/ready",
        "/v2/models/rentals/versions/x",
    ],
)
def test_unknown_models_and_versions_are_404(rest: httpx.Client, path: str) -> None:
    response = rest.get(path)
    assert response.status_code == 404
    assert set(response.json()) == {"error"}


@pytest.mark.parametrize(
    "path", ["/v2/models/rentals/infer", "/v2/models/rentals/versions/1/infer"]
)
def test_infer_nested_inputs_without_content_type(rest: httpx.Client, path: str) -> None:
    body = {
        "inputs": [
            {"name": "temp", "shape": [2, 1], "datatype": "FP32", "data": [[20.5], [18.0]]},
            {"name": "humidity", "shape": [2, 1], "datatype": "FP64", "data": [[0.5], [0.1]]},
            {"name": "weekday", "shape": [2], "datatype": "INT8", "data": [1, 6]},
        ]
    }
    response = rest.post(path, content=json.dumps(body).encode())
    assert "content-type" not in response.request.headers
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["id"]
    assert answer["model_version"] == ("1" if "versions" in path else "2")
    assert answer["outputs"][0]["shape"] == [2]
