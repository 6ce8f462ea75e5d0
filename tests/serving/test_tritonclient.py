"""Triton's HTTP and gRPC clients (written by others) against the real gateway on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from tritonclient.utils import InferenceServerException

from .v2_served import Served, serve

V2_TYPES = {"f": "FP64", "i": "INT64"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve(tmp_path_factory.mktemp("triton") / "eg") as running:
        yield running


@pytest.fixture(scope="module")
def http(served: Served) -> Iterator[triton_http.InferenceServerClient]:
    client = triton_http.InferenceServerClient(served.http)
    yield client
    client.close()


@pytest.fixture(scope="module")
def grpc(served: Served) -> Iterator[triton_grpc.InferenceServerClient]:
    client = triton_grpc.InferenceServerClient(served.grpc)
    yield client
    client.close()


def columns(module: Any, served: Served, *, binary: bool = True, **types: str) -> list[Any]:
    """One tensor per column, in the column's own datatype unless ``types`` names another."""
    inputs = []
    for name in served.rows.columns:
        values = served.rows[name].to_numpy()
        datatype = types.get(name, V2_TYPES[values.dtype.kind])
        values = values.astype(triton_np(datatype))
        tensor = module.InferInput(name, list(values.shape), datatype)
        if module is triton_http:
            tensor.set_data_from_numpy(values, binary_data=binary)
        else:
            tensor.set_data_from_numpy(values)
        inputs.append(tensor)
    return inputs


def triton_np(datatype: str) -> Any:
    from tritonclient.utils import triton_to_np_dtype

    return triton_to_np_dtype(datatype)


# -- HTTP ---------------------------------------------------------------------------------------


def test_http_server_health_and_metadata(http: triton_http.InferenceServerClient) -> None:
    assert http.is_server_live()
    assert http.is_server_ready()
    metadata = http.get_server_metadata()
    assert metadata["name"] == "evergreen"
    assert "binary_tensor_data" in metadata["extensions"]


def test_http_model_metadata(http: triton_http.InferenceServerClient) -> None:
    metadata = http.get_model_metadata("rentals")
    assert metadata["versions"] == ["2"]
    assert [(t["name"], t["datatype"], t["shape"]) for t in metadata["inputs"]] == [
        ("temp", "FP64", [-1]),
        ("humidity", "FP64", [-1]),
        ("weekday", "INT64", [-1]),
    ]
    assert metadata["outputs"] == [{"name": "rentals", "datatype": "FP64", "shape": [-1]}]
    assert http.get_model_metadata("rentals", "1")["versions"] == ["1"]
    assert http.get_model_metadata("load")["outputs"][0]["datatype"] == "BYTES"


def test_http_model_ready(http: triton_http.InferenceServerClient) -> None:
    assert http.is_model_ready("rentals")
    assert http.is_model_ready("rentals", "2")
    assert not http.is_model_ready("no-such-model")
    assert not http.is_model_ready("rentals", "9")


@pytest.mark.parametrize("binary_in", [True, False], ids=["binary-in", "json-in"])
@pytest.mark.parametrize(
    "binary_out", [True, False, None], ids=["binary-out", "json-out", "default-out"]
)
def test_http_infer(
    http: triton_http.InferenceServerClient,
    served: Served,
    binary_in: bool,
    binary_out: bool | None,
) -> None:
    outputs = (
        None
        if binary_out is None
        else [triton_http.InferRequestedOutput("rentals", binary_data=binary_out)]
    )
    result = http.infer(
        "rentals", columns(triton_http, served, binary=binary_in), outputs=outputs, request_id="r-1"
    )
    np.testing.assert_allclose(result.as_numpy("rentals"), served.predict("rentals", 2))
    response = result.get_response()
    assert (response["model_version"], response["id"]) == ("2", "r-1")
    assert ("parameters" in response["outputs"][0]) is (binary_out is not False)


def test_http_infer_a_version(http: triton_http.InferenceServerClient, served: Served) -> None:
    result = http.infer("rentals", columns(triton_http, served), model_version="1")
    np.testing.assert_allclose(result.as_numpy("rentals"), served.predict("rentals", 1))
    assert result.get_response()["model_version"] == "1"
    assert result.get_response()["id"]  # set even when the request gave none


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_http_infer_one_matrix_of_other_types(
    http: triton_http.InferenceServerClient, served: Served, binary: bool
) -> None:
    matrix = served.rows.to_numpy(dtype=np.float32)
    tensor = triton_http.InferInput("features", list(matrix.shape), "FP32")
    tensor.set_data_from_numpy(matrix, binary_data=binary)
    result = http.infer("rentals", [tensor])
    expected = served.models[("rentals", 2)].predict(
        served.rows.astype(np.float32).astype(np.float64)
    )
    np.testing.assert_allclose(result.as_numpy("rentals"), expected, rtol=1e-6)


def test_http_infer_narrow_integers_and_floats(
    http: triton_http.InferenceServerClient, served: Served
) -> None:
    inputs = columns(triton_http, served, weekday="UINT8", temp="FP32", humidity="FP16")
    result = http.infer("rentals", inputs)
    rows = served.rows.assign(
        temp=served.rows["temp"].astype(np.float32),
        humidity=served.rows["humidity"].astype(np.float16),
    )
    expected = served.models[("rentals", 2)].predict(
        rows.astype({"temp": "float64", "humidity": "float64"})
    )
    np.testing.assert_allclose(result.as_numpy("rentals"), expected, rtol=1e-6)


@pytest.mark.parametrize("binary_out", [True, False], ids=["binary-out", "json-out"])
def test_http_labels_are_bytes(
    http: triton_http.InferenceServerClient, served: Served, binary_out: bool
) -> None:
    outputs = [triton_http.InferRequestedOutput("load", binary_data=binary_out)]
    result = http.infer("load", columns(triton_http, served), outputs=outputs)
    labels = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("load").tolist()]
    assert labels == served.predict("load", 1).tolist()


def test_http_unknown_model_is_404(http: triton_http.InferenceServerClient, served: Served) -> None:
    with pytest.raises(InferenceServerException) as caught:
        http.infer("no-such-model", columns(triton_http, served))
    assert caught.value.status() == "404"
    assert "no-such-model" in caught.value.message()


def test_http_unknown_version_is_404(
    http: triton_http.InferenceServerClient, served: Served
) -> None:
    with pytest.raises(InferenceServerException) as caught:
        http.infer("rentals", columns(triton_http, served), model_version="9")
    assert caught.value.status() == "404"


def test_http_wrong_tensor_name_is_400(
    http: triton_http.InferenceServerClient, served: Served
) -> None:
    inputs = columns(triton_http, served)
    wrong = triton_http.InferInput("temperature", [len(served.rows)], "FP64")
    wrong.set_data_from_numpy(served.rows["temp"].to_numpy())
    with pytest.raises(InferenceServerException) as caught:
        http.infer("rentals", [wrong, *inputs[1:]])
    assert caught.value.status() == "400"
    assert "'temperature'" in caught.value.message()


def test_http_unknown_output_is_400(
    http: triton_http.InferenceServerClient, served: Served
) -> None:
    with pytest.raises(InferenceServerException) as caught:
        http.infer(
            "rentals",
            columns(triton_http, served),
            outputs=[triton_http.InferRequestedOutput("proba")],
        )
    assert caught.value.status() == "400"
    assert "'proba'" in caught.value.message()


# -- gRPC ---------------------------------------------------------------------------------------


def test_grpc_server_health_and_metadata(grpc: triton_grpc.InferenceServerClient) -> None:
    assert grpc.is_server_live()
    assert grpc.is_server_ready()
    assert grpc.get_server_metadata().name == "evergreen"


def test_grpc_model_metadata(grpc: triton_grpc.InferenceServerClient) -> None:
    metadata = grpc.get_model_metadata("rentals", as_json=True)
    assert metadata["versions"] == ["2"]
    assert [(t["name"], t["datatype"], t["shape"]) for t in metadata["inputs"]] == [
        ("temp", "FP64", ["-1"]),
        ("humidity", "FP64", ["-1"]),
        ("weekday", "INT64", ["-1"]),
    ]
    assert grpc.get_model_metadata("rentals", "1").versions == ["1"]


def test_grpc_model_ready(grpc: triton_grpc.InferenceServerClient) -> None:
    assert grpc.is_model_ready("rentals")
    assert grpc.is_model_ready("rentals", "2")
    with pytest.raises(InferenceServerException) as caught:
        grpc.is_model_ready("no-such-model")
    assert caught.value.status() == "StatusCode.NOT_FOUND"


@pytest.mark.parametrize(
    ("version", "expected"), [("", 2), ("1", 1), ("2", 2)], ids=["served", "v1", "v2"]
)
def test_grpc_infer(
    grpc: triton_grpc.InferenceServerClient, served: Served, version: str, expected: int
) -> None:
    result = grpc.infer(
        "rentals", columns(triton_grpc, served), model_version=version, request_id="g-1"
    )
    np.testing.assert_allclose(result.as_numpy("rentals"), served.predict("rentals", expected))
    response = result.get_response()
    assert (response.model_version, response.id) == (str(expected), "g-1")


def test_grpc_infer_one_matrix(grpc: triton_grpc.InferenceServerClient, served: Served) -> None:
    matrix = served.rows.to_numpy(dtype=np.float64)
    tensor = triton_grpc.InferInput("features", list(matrix.shape), "FP64")
    tensor.set_data_from_numpy(matrix)
    result = grpc.infer("rentals", [tensor], outputs=[triton_grpc.InferRequestedOutput("rentals")])
    np.testing.assert_allclose(result.as_numpy("rentals"), served.predict("rentals", 2))
    assert result.get_response().id  # generated when the request gave none


def test_grpc_labels_are_bytes(grpc: triton_grpc.InferenceServerClient, served: Served) -> None:
    result = grpc.infer("load", columns(triton_grpc, served, weekday="INT32"))
    labels = [v.decode() for v in result.as_numpy("load").tolist()]
    assert labels == served.predict("load", 1).tolist()


def test_grpc_unknown_model_is_not_found(
    grpc: triton_grpc.InferenceServerClient, served: Served
) -> None:
    with pytest.raises(InferenceServerException) as caught:
        grpc.infer("no-such-model", columns(triton_grpc, served))
    assert caught.value.status() == "StatusCode.NOT_FOUND"
    assert "no-such-model" in caught.value.message()


def test_grpc_wrong_tensor_name_is_invalid_argument(
    grpc: triton_grpc.InferenceServerClient, served: Served
) -> None:
    inputs = columns(triton_grpc, served)
    wrong = triton_grpc.InferInput("temperature", [len(served.rows)], "FP64")
    wrong.set_data_from_numpy(served.rows["temp"].to_numpy())
    with pytest.raises(InferenceServerException) as caught:
        grpc.infer("rentals", [wrong, *inputs[1:]])
    assert caught.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert "'temperature'" in caught.value.message()


@pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
def test_http_compressed_requests(
    http: triton_http.InferenceServerClient, served: Served, algorithm: str
) -> None:
    result = http.infer(
        "rentals",
        columns(triton_http, served),
        request_compression_algorithm=algorithm,
        response_compression_algorithm=algorithm,
    )
    np.testing.assert_allclose(result.as_numpy("rentals"), served.predict("rentals", 2))
