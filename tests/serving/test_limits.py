"""The body size limit and the inference token, on a real gateway."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pandas as pd
import pytest

from evergreen.serving import GatewayConfig

from .conftest import Gateway, Publish, StartGateway, columns_request

LIMIT = 2048
TOKEN = "s3cret-inference"


@pytest.fixture
def limited(publish: Publish, start_gateway: StartGateway) -> Gateway:
    publish()
    return start_gateway(config=GatewayConfig(max_body_bytes=LIMIT))


def records(rows: int) -> bytes:
    row = {"temp": 20.0, "humidity": 0.5, "weekday": 3}
    return json.dumps({"dataframe_records": [row] * rows}).encode()


def chunks(body: bytes, size: int = 512) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_body_under_the_limit_is_answered(limited: Gateway) -> None:
    body = records(3)
    assert len(body) < LIMIT
    response = limited.client.post("/invocations", content=body)
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == 3


@pytest.mark.parametrize(
    ("path", "shape"),
    [
        ("/invocations", "error_code"),
        ("/v2/models/rentals/infer", "error"),
        ("/api/v1/feedback", "error"),
    ],
    ids=["mlflow", "v2", "feedback"],
)
def test_content_length_over_the_limit_is_413(limited: Gateway, path: str, shape: str) -> None:
    response = limited.client.post(path, content=records(100))
    assert response.status_code == 413
    assert response.headers["connection"] == "close"
    body = response.json()
    assert shape in body
    assert f"limit of {LIMIT} bytes" in json.dumps(body)


@pytest.mark.parametrize(
    ("path", "shape"),
    [
        ("/invocations", "error_code"),
        ("/v2/models/rentals/infer", "error"),
        ("/api/v1/feedback", "error"),  # a route whose body FastAPI parses itself
    ],
    ids=["mlflow", "v2", "feedback"],
)
def test_streamed_body_over_the_limit_is_413(limited: Gateway, path: str, shape: str) -> None:
    response = limited.client.post(path, content=chunks(records(100)))  # chunked, no length
    assert response.status_code == 413, response.text
    assert shape in response.json()
    assert f"limit of {LIMIT} bytes" in response.text


def test_streamed_body_under_the_limit_is_answered(limited: Gateway) -> None:
    response = limited.client.post("/invocations", content=chunks(records(3), 64))
    assert response.status_code == 200, response.text


def test_refused_before_the_body_is_sent(limited: Gateway) -> None:
    """The gateway answers from the headers alone, and closes without waiting for the body."""
    head = (
        "POST /invocations HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
        f"Content-Length: {100 * 1024 * 1024}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", limited.thread.port), timeout=5) as sock:
        sock.sendall(head.encode() + b'{"dataframe_records": [')
        received = b""
        while chunk := sock.recv(65536):  # the server closes the connection after answering
            received += chunk
    status_line, _, rest = received.partition(b"\r\n")
    assert b" 413 " in status_line
    assert b"REQUEST_LIMIT_EXCEEDED" in rest


@pytest.fixture
def guarded(publish: Publish, start_gateway: StartGateway) -> Gateway:
    publish()
    return start_gateway(config=GatewayConfig(inference_token=TOKEN))


def v2_body() -> dict[str, object]:
    return columns_request(pd.DataFrame({"temp": [20.0], "humidity": [0.5], "weekday": [3]}))


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong", f"Basic {TOKEN}", TOKEN],
    ids=["none", "wrong-token", "wrong-scheme", "no-scheme"],
)
def test_inference_needs_the_token(guarded: Gateway, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    mlflow = guarded.client.post("/invocations", content=records(1), headers=headers)
    assert mlflow.status_code == 401
    assert mlflow.json()["error_code"] == "UNAUTHENTICATED"
    assert "Bearer" in mlflow.json()["message"]
    v2 = guarded.client.post("/v2/models/rentals/infer", json=v2_body(), headers=headers)
    assert v2.status_code == 401
    assert "Authorization: Bearer" in v2.json()["error"]
    assert v2.headers["WWW-Authenticate"] == "Bearer"
    assert guarded.client.get("/v2/models/rentals", headers=headers).status_code == 401
    named = guarded.client.post("/endpoints/rentals/invocations", content=records(1))
    assert named.status_code == 401


def test_the_token_opens_inference(guarded: Gateway) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    mlflow = guarded.client.post("/invocations", content=records(2), headers=headers)
    assert mlflow.status_code == 200, mlflow.text
    v2 = guarded.client.post("/v2/models/rentals/infer", json=v2_body(), headers=headers)
    assert v2.status_code == 200, v2.text
    lowercase = {"Authorization": f"bearer {TOKEN}"}
    assert guarded.client.post("/invocations", content=records(1), headers=lowercase).is_success


@pytest.mark.parametrize(
    "path", ["/ping", "/health", "/version", "/v2/health/live", "/v2/health/ready", "/metrics"]
)
def test_health_routes_stay_open(guarded: Gateway, path: str) -> None:
    assert guarded.client.get(path).status_code == 200


def test_feedback_needs_the_token(guarded: Gateway) -> None:
    body = {"labels": [{"request_id": "r-1", "label": 3.0}]}
    assert guarded.client.post("/api/v1/feedback", json=body).status_code == 401
    headers = {"Authorization": f"Bearer {TOKEN}"}
    assert guarded.client.post("/api/v1/feedback", json=body, headers=headers).status_code == 200
