"""The binary tensor data extension: raw tensors in and out, over the real gateway too."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from evergreen.errors import InvalidInput
from evergreen.serving.protocols import v2, v2_binary

from .test_v2 import SIGNATURE
from .v2_served import Served, serve


def bytes_tensor(*items: str) -> bytes:
    return b"".join(struct.pack("<I", len(s.encode())) + s.encode() for s in items)


def binary_body(
    tensors: list[tuple[str, str, list[int], bytes]], **extra: Any
) -> tuple[bytes, int]:
    """A request with every tensor binary: the body and its JSON header's length."""
    header = {
        "inputs": [
            {"name": n, "datatype": d, "shape": s, "parameters": {"binary_data_size": len(raw)}}
            for n, d, s, raw in tensors
        ],
        **extra,
    }
    encoded = json.dumps(header).encode()
    return encoded + b"".join(raw for *_, raw in tensors), len(encoded)


@pytest.mark.parametrize(
    ("datatype", "values"),
    [
        ("BOOL", np.array([True, False, True])),
        ("INT8", np.array([-128, 0, 127], dtype=np.int8)),
        ("INT16", np.array([-3, 0, 3], dtype=np.int16)),
        ("INT32", np.array([-3, 0, 3], dtype=np.int32)),
        ("INT64", np.array([-(2**40), 0, 2**40], dtype=np.int64)),
        ("UINT8", np.array([0, 1, 255], dtype=np.uint8)),
        ("UINT16", np.array([0, 1, 65535], dtype=np.uint16)),
        ("UINT32", np.array([0, 1, 2**32 - 1], dtype=np.uint32)),
        ("UINT64", np.array([0, 1, 2**63], dtype=np.uint64)),
        ("FP16", np.array([0.5, -1.0, 2.0], dtype=np.float16)),
        ("FP32", np.array([0.5, -1.0, 2.0], dtype=np.float32)),
        ("FP64", np.array([0.5, -1.0, np.nan])),
        ("BYTES", np.array(["oslo", "", "zürich"], dtype=object)),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_raw_round_trip(datatype: str, values: np.ndarray) -> None:
    raw = v2_binary.to_raw(values, datatype)
    back = v2_binary.from_raw("t", datatype, (3,), raw)
    if datatype == "BYTES":
        assert back.tolist() == values.tolist()
    else:
        np.testing.assert_array_equal(back, values)
        assert back.dtype == values.dtype


def test_bytes_are_length_prefixed() -> None:
    assert (
        v2_binary.to_raw(np.array(["ab", "c"]), "BYTES") == b"\x02\x00\x00\x00ab\x01\x00\x00\x00c"
    )


@pytest.mark.parametrize(
    ("datatype", "raw", "names"),
    [
        ("FP64", b"\x00" * 20, "takes 24 bytes"),
        ("BOOL", b"\x00\x02\x01", "0 or 1"),
        ("BYTES", bytes_tensor("a", "b"), "holds 3 values"),
        ("BYTES", b"\x05\x00\x00\x00ab", "runs past"),
        ("BYTES", b"\x01\x00", "inside an element's length"),
        ("BYTES", bytes_tensor("a", "b") + b"\x01\x00\x00\x00\xff", "UTF-8"),
    ],
    ids=[
        "fp64-short",
        "bool-not-0-1",
        "bytes-count",
        "bytes-overrun",
        "bytes-cut",
        "bytes-not-utf8",
    ],
)
def test_bad_raw_names_the_tensor(datatype: str, raw: bytes, names: str) -> None:
    with pytest.raises(InvalidInput, match=names) as caught:
        v2_binary.from_raw("city", datatype, (3,), raw)
    assert "'city'" in str(caught.value)


def test_parse_mixes_binary_and_json_inputs() -> None:
    body = {
        "inputs": [
            {
                "name": "temp",
                "shape": [2],
                "datatype": "FP32",
                "parameters": {"binary_data_size": 8},
            },
            {"name": "weekday", "shape": [2], "datatype": "INT64", "data": [1, 6]},
            {
                "name": "city",
                "shape": [2],
                "datatype": "BYTES",
                "parameters": {"binary_data_size": 16},
            },
        ]
    }
    binary = np.array([20.5, 18.0], dtype="<f4").tobytes() + bytes_tensor("oslo", "rome")
    frame = SIGNATURE.conform(v2.parse_infer_request(body, SIGNATURE, binary).frame)
    assert frame.to_dict("list") == {
        "temp": [20.5, 18.0],
        "weekday": [1, 6],
        "city": ["oslo", "rome"],
    }


@pytest.mark.parametrize(
    ("size", "tail", "names"),
    [
        (16, 8, "'temp'"),
        (-1, 16, "'temp'"),
        ("8", 8, "'temp'"),
        (8, 16, "8 bytes of binary data follow"),
    ],
    ids=["too-big", "negative", "not-int", "left-over"],
)
def test_bad_binary_sizes(size: Any, tail: int, names: str) -> None:
    body = {
        "inputs": [
            {
                "name": "temp",
                "shape": [1],
                "datatype": "FP64",
                "parameters": {"binary_data_size": size},
            },
            {"name": "weekday", "shape": [1], "datatype": "INT64", "data": [1]},
            {"name": "city", "shape": [1], "datatype": "BYTES", "data": ["oslo"]},
        ]
    }
    with pytest.raises(InvalidInput, match=names):
        v2.parse_infer_request(body, SIGNATURE, b"\x00" * tail)


@pytest.mark.parametrize(
    ("body", "binary"),
    [
        ({}, False),
        ({"parameters": {"binary_data_output": True}}, True),
        ({"outputs": [{"name": "rentals"}]}, False),
        ({"outputs": [{"name": "rentals", "parameters": {"binary_data": True}}]}, True),
        (
            {
                "parameters": {"binary_data_output": True},
                "outputs": [{"name": "rentals", "parameters": {"binary_data": False}}],
            },
            False,
        ),
    ],
    ids=["default", "request-level", "output-listed", "output-binary", "output-overrides"],
)
def test_binary_output_is_asked_for(body: dict[str, Any], binary: bool) -> None:
    inputs = {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}]}
    assert v2.parse_infer_request({**inputs, **body}, SIGNATURE).binary_output is binary


def test_binary_response_carries_the_size() -> None:
    from .test_v2 import loaded

    header, raw = v2.binary_infer_response(loaded(), "r", np.array([1.5, 2.5]))
    assert header["outputs"][0]["parameters"] == {"binary_data_size": 16}
    assert "data" not in header["outputs"][0]
    assert np.frombuffer(raw, "<f8").tolist() == [1.5, 2.5]


# -- over the real gateway --------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve(tmp_path_factory.mktemp("binary") / "eg", grpc_port=None) as running:
        yield running


@pytest.fixture(scope="module")
def client(served: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://{served.http}", timeout=10) as http:
        yield http


def raw_columns(served: Served) -> list[tuple[str, str, list[int], bytes]]:
    rows = served.rows
    return [
        ("temp", "FP64", [len(rows)], rows["temp"].to_numpy("<f8").tobytes()),
        ("humidity", "FP32", [len(rows)], rows["humidity"].to_numpy("<f4").tobytes()),
        ("weekday", "INT64", [len(rows)], rows["weekday"].to_numpy("<i8").tobytes()),
    ]


def test_binary_in_binary_out_without_content_type(client: httpx.Client, served: Served) -> None:
    body, length = binary_body(raw_columns(served), parameters={"binary_data_output": True})
    response = client.post(
        "/v2/models/rentals/versions/1/infer",
        content=body,
        headers={v2_binary.HEADER_LENGTH: str(length)},
    )
    assert response.status_code == 200, response.text
    assert "content-type" not in response.request.headers
    assert response.headers["content-type"] == "application/octet-stream"
    size = int(response.headers[v2_binary.HEADER_LENGTH])
    header = json.loads(response.content[:size])
    assert (header["model_version"], header["outputs"][0]["parameters"]) == (
        "1",
        {"binary_data_size": 48},
    )
    rows = served.rows.assign(
        humidity=served.rows["humidity"].astype(np.float32).astype(np.float64)
    )
    expected = served.models[("rentals", 1)].predict(rows)
    np.testing.assert_allclose(np.frombuffer(response.content[size:], "<f8"), expected, rtol=1e-6)


def test_bad_header_length_is_400(client: httpx.Client, served: Served) -> None:
    body, length = binary_body(raw_columns(served))
    response = client.post(
        "/v2/models/rentals/infer", content=body, headers={v2_binary.HEADER_LENGTH: str(length + 5)}
    )
    assert response.status_code == 400
    assert "JSON header" in response.json()["error"]


def test_binary_of_the_wrong_size_is_400_naming_the_tensor(
    client: httpx.Client, served: Served
) -> None:
    tensors = raw_columns(served)
    name, datatype, shape, raw = tensors[1]
    body, length = binary_body([tensors[0], (name, datatype, shape, raw[:-4]), tensors[2]])
    response = client.post(
        "/v2/models/rentals/infer", content=body, headers={v2_binary.HEADER_LENGTH: str(length)}
    )
    assert response.status_code == 400
    assert "'humidity'" in response.json()["error"]
    assert response.headers["x-evergreen-variant"] == "production"


@pytest.mark.parametrize(
    ("encoding", "content", "names"),
    [
        ("br", b"x", "'br' is not supported"),
        ("gzip", b"not gzip", "not valid gzip"),
    ],
    ids=["unknown-encoding", "corrupt-gzip"],
)
def test_bad_content_encoding_is_400(
    client: httpx.Client, encoding: str, content: bytes, names: str
) -> None:
    response = client.post(
        "/v2/models/rentals/infer", content=content, headers={"Content-Encoding": encoding}
    )
    assert response.status_code == 400
    assert names in response.json()["error"]
