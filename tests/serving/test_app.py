from __future__ import annotations

import json
import threading
import time
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from evergreen.bootstrap import Context
from evergreen.store.predictions import read_predictions

from .conftest import Publish, StartGateway, columns_request, matrix_request


def outputs(response: httpx.Response) -> list[Any]:
    data: list[Any] = response.json()["outputs"][0]["data"]
    return data


def test_health_and_server_metadata(publish: Publish, start_gateway: StartGateway) -> None:
    publish()
    client = start_gateway().client
    assert client.get("/v2/health/live").json() == {"live": True}
    ready = client.get("/v2/health/ready")
    assert (ready.status_code, ready.json()) == (200, {"ready": True})
    expected = {
        "name": "evergreen",
        "version": package_version("evergreen"),
        "extensions": ["binary_tensor_data"],
    }
    assert client.get("/v2").json() == expected
    assert client.get("/v2/").json() == expected


def test_model_metadata_and_readiness(publish: Publish, start_gateway: StartGateway) -> None:
    publish()
    client = start_gateway().client
    response = client.get("/v2/models/rentals")
    assert response.headers["X-Model-Version"] == "1"
    assert response.json() == {
        "name": "rentals",
        "versions": ["1"],
        "platform": "evergreen-sklearn",
        "inputs": [
            {"name": "temp", "datatype": "FP64", "shape": [-1]},
            {"name": "humidity", "datatype": "FP64", "shape": [-1]},
            {"name": "weekday", "datatype": "INT64", "shape": [-1]},
        ],
        "outputs": [{"name": "rentals", "datatype": "FP64", "shape": [-1]}],
    }
    assert client.get("/v2/models/rentals/versions/1").json() == response.json()
    assert client.get("/v2/models/rentals/ready").json() == {"name": "rentals", "ready": True}
    assert client.get("/v2/models/rentals/versions/1/ready").json()["ready"] is True


def test_version_readiness(publish: Publish, start_gateway: StartGateway) -> None:
    publish()
    publish(seed=1, promote=False)
    client = start_gateway().client
    not_loaded = client.get("/v2/models/rentals/versions/2/ready")
    assert (not_loaded.status_code, not_loaded.json()["ready"]) == (503, False)
    assert client.get("/v2/models/rentals/versions/9/ready").status_code == 404


def test_infer_with_one_tensor_per_column(publish: Publish, start_gateway: StartGateway) -> None:
    published = publish()
    client = start_gateway().client
    features = published.features.head(7)
    response = client.post("/v2/models/rentals/infer", json=columns_request(features, id="req-1"))
    assert response.status_code == 200, response.text
    assert response.headers["X-Model-Version"] == "1"
    body = response.json()
    assert (body["model_name"], body["model_version"], body["id"]) == ("rentals", "1", "req-1")
    assert body["outputs"][0]["name"] == "rentals"
    assert body["outputs"][0]["shape"] == [7]
    np.testing.assert_allclose(outputs(response), published.model.predict(features))


def test_infer_with_one_matrix(publish: Publish, start_gateway: StartGateway) -> None:
    published = publish()
    client = start_gateway().client
    features = published.features.tail(5)
    response = client.post("/v2/models/rentals/infer", json=matrix_request(features))
    assert response.status_code == 200, response.text
    assert response.json()["id"]  # generated when the request has none
    np.testing.assert_allclose(outputs(response), published.model.predict(features))


def test_infer_classifier_returns_labels(publish: Publish, start_gateway: StartGateway) -> None:
    published = publish("busy", task="classification")
    client = start_gateway().client
    features = published.features.head(20)
    response = client.post("/v2/models/busy/infer", json=columns_request(features))
    output = response.json()["outputs"][0]
    assert (output["name"], output["datatype"]) == ("load", "BYTES")
    assert output["data"] == published.model.predict(features).tolist()


def test_request_without_content_type(publish: Publish, start_gateway: StartGateway) -> None:
    published = publish()
    client = start_gateway().client
    features = published.features.head(3)
    request = client.build_request(
        "POST", "/v2/models/rentals/infer", content=json.dumps(columns_request(features)).encode()
    )
    assert "content-type" not in request.headers
    response = client.send(request)
    assert response.status_code == 200, response.text
    np.testing.assert_allclose(outputs(response), published.model.predict(features))


def test_infer_a_specific_version(publish: Publish, start_gateway: StartGateway) -> None:
    first = publish()
    second = publish(seed=1)
    gateway = start_gateway()
    features = first.features.head(4)
    old = gateway.client.post("/v2/models/rentals/versions/1/infer", json=columns_request(features))
    assert old.headers["X-Model-Version"] == "1"
    assert old.json()["model_version"] == "1"
    np.testing.assert_allclose(outputs(old), first.model.predict(features))
    new = gateway.client.post("/v2/models/rentals/infer", json=columns_request(features))
    assert new.headers["X-Model-Version"] == "2"
    np.testing.assert_allclose(outputs(new), second.model.predict(features))


def test_unknown_model_is_404(publish: Publish, start_gateway: StartGateway) -> None:
    published = publish()
    client = start_gateway().client
    body = columns_request(published.features.head(1))
    for path in (
        "/v2/models/nope/infer",
        "/v2/models/nope",
        "/v2/models/nope/ready",
        "/v2/models/nope/versions/1/infer",
        "/v2/models/rentals/versions/9/infer",
        "/v2/nothing/here",
    ):
        response = client.post(path, json=body) if path.endswith("infer") else client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"], path
    assert "nope" in client.get("/v2/models/nope").json()["error"]


def _bad_requests() -> list[tuple[str, str | dict[str, Any], str]]:
    def tensor(name: str, shape: list[int], datatype: str, data: list[Any]) -> dict[str, Any]:
        return {"name": name, "shape": shape, "datatype": datatype, "data": data}

    good = [
        tensor("temp", [1], "FP64", [20.0]),
        tensor("humidity", [1], "FP64", [0.5]),
        tensor("weekday", [1], "INT64", [3]),
    ]
    return [
        ("malformed-json", '{"inputs": [', "not valid JSON"),
        ("empty-body", "", "not valid JSON"),
        ("wrong-name", {"inputs": [*good[:2], tensor("wkday", [1], "INT64", [3])]}, "'wkday'"),
        ("wrong-shape", {"inputs": [*good[:2], tensor("weekday", [2], "INT64", [3])]}, "'weekday'"),
        ("bad-datatype", {"inputs": [*good[:2], tensor("weekday", [1], "INT65", [3])]}, "INT65"),
        ("bad-value", {"inputs": [*good[:2], tensor("weekday", [1], "INT64", ["x"])]}, "'weekday'"),
        ("missing-input", {"inputs": good[:2]}, "'weekday'"),
        ("nan-input", {"inputs": [tensor("temp", [1], "FP64", [None]), *good[1:]]}, "NaN"),
    ]


@pytest.mark.parametrize(
    ("body", "mentions"), [c[1:] for c in _bad_requests()], ids=[c[0] for c in _bad_requests()]
)
def test_bad_requests_are_400(
    publish: Publish, start_gateway: StartGateway, body: str | dict[str, Any], mentions: str
) -> None:
    publish()
    client = start_gateway().client
    content = body if isinstance(body, str) else json.dumps(body)
    response = client.post("/v2/models/rentals/infer", content=content)
    assert response.status_code == 400, response.text
    assert mentions in response.json()["error"]
    assert response.headers["X-Model-Version"] == "1"


def test_version_that_is_not_a_number_is_an_unknown_version(
    publish: Publish, start_gateway: StartGateway
) -> None:
    publish()
    client = start_gateway().client
    response = client.get("/v2/models/rentals/versions/latest")
    assert response.status_code == 404  # V2: an unknown model or version is a 404
    assert "'latest' is not a version number" in response.json()["error"]


def test_hot_swap_under_load(
    context: Context, publish: Publish, start_gateway: StartGateway
) -> None:
    published = publish()
    gateway = start_gateway(poll_interval=0.05)
    body = columns_request(published.features.head(3))
    results: list[tuple[int, str | None, float]] = []
    stop = threading.Event()

    def client_loop() -> None:
        with httpx.Client(base_url=gateway.url, timeout=10) as client:
            while not stop.is_set():
                response = client.post("/v2/models/rentals/infer", json=body)
                results.append(
                    (
                        response.status_code,
                        response.headers.get("X-Model-Version"),
                        time.monotonic(),
                    )
                )

    worker = threading.Thread(target=client_loop)
    worker.start()
    try:
        while len(results) < 20:
            time.sleep(0.01)
        publish(seed=1)  # registers and promotes version 2
        promoted_at = time.monotonic()
        deadline = promoted_at + 10
        while not any(v == "2" for _, v, _ in results) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # keep sending after the swap
    finally:
        stop.set()
        worker.join()
    assert all(status == 200 for status, _, _ in results), "a request failed during the swap"
    versions = [v for _, v, _ in results]
    assert set(versions) == {"1", "2"}
    first_new = versions.index("2")
    assert set(versions[first_new:]) == {"2"}, "version 1 answered after version 2"
    assert results[first_new][2] - promoted_at < 2.0  # within a few poll intervals


def test_corrupted_new_version_keeps_old_serving(
    context: Context, publish: Publish, start_gateway: StartGateway
) -> None:
    published = publish()
    gateway = start_gateway(poll_interval=0.05)
    publish(seed=1, promote=False)
    Path(context.registry.get_version("rentals", 2).artifact_uri).write_bytes(b"garbage" * 100)
    context.registry.promote("rentals", 2, "production", actor="test")
    time.sleep(0.5)  # ten poll intervals
    response = gateway.client.post(
        "/v2/models/rentals/infer", json=columns_request(published.features.head(2))
    )
    assert response.status_code == 200
    assert response.headers["X-Model-Version"] == "1"
    assert gateway.client.get("/v2/health/ready").status_code == 200


def test_every_prediction_is_logged(
    context: Context, publish: Publish, start_gateway: StartGateway
) -> None:
    published = publish()
    gateway = start_gateway()
    sent: dict[str, list[float]] = {}
    for i in range(25):
        rows = published.features.iloc[i : i + 1 + i % 3]
        response = gateway.client.post(
            "/v2/models/rentals/infer", json=columns_request(rows, id=f"req-{i}")
        )
        sent[f"req-{i}"] = outputs(response)
    gateway.stop()  # the lifespan shutdown writes what is still buffered
    logged = read_predictions(context.predictions, context.artifacts, "rentals", version=1)
    assert set(logged["request_id"]) == set(sent)
    assert len(logged) == sum(len(v) for v in sent.values())
    for request_id, predictions in sent.items():
        rows = logged[logged["request_id"] == request_id]
        np.testing.assert_allclose(rows["prediction"], predictions)
    assert list(logged.columns) == [
        "request_id", "ts", "endpoint", "variant", "role", "error", "latency_ms",
        "temp", "humidity", "weekday", "prediction",
    ]  # fmt: skip
    assert set(logged["endpoint"]) == {"rentals"} and set(logged["role"]) == {"primary"}
    assert logged["error"].isna().all() and (logged["latency_ms"] > 0).all()
