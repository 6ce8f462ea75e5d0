"""Endpoints over a real gateway: A/B/n with sticky routing, shadows off the request path, the
control API, feedback labels and the experiment's verdict."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from evergreen.bootstrap import Context
from evergreen.flavors import Signature
from evergreen.serving import GatewayConfig
from evergreen.store.predictions import read_predictions, read_segments

from .conftest import (
    Gateway,
    Publish,
    Published,
    StartGateway,
    matrix_request,
    numeric_data,
)

TOKEN = "s3cret-control-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Slow:
    """A custom model that answers like ``inner`` after ``delay`` seconds."""

    def __init__(self, inner: Any, delay: float) -> None:
        self.inner, self.delay = inner, delay

    def predict(self, frame: pd.DataFrame) -> Any:
        time.sleep(self.delay)
        return self.inner.predict(frame)


class Broken:
    def predict(self, frame: pd.DataFrame) -> Any:
        raise RuntimeError("this shadow is broken")


def register_custom(context: Context, model: Any, features: pd.DataFrame) -> int:
    _, target = numeric_data(0)
    row = context.registry.register(
        "rentals",
        model,
        flavor="python",
        signature=Signature.infer(features, target, "regression"),
        actor="test",
    )
    return row.version


def set_policy(gateway: Gateway, name: str, policy: dict[str, Any]) -> httpx.Response:
    return gateway.client.put(
        f"/api/v1/endpoints/{name}", json={"policy": policy, "actor": "tester"}, headers=AUTH
    )


def wait_serving(gateway: Gateway, name: str, variants: int, shadows: int = 0) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        serving = gateway.client.get(f"/api/v1/endpoints/{name}").json().get("serving")
        if serving and len(serving["variants"]) == variants and len(serving["shadows"]) == shadows:
            return
        time.sleep(0.05)
    raise AssertionError(f"endpoint {name} is not served as expected: {serving}")


def infer(gateway: Gateway, name: str, rows: pd.DataFrame, **headers: str) -> httpx.Response:
    return gateway.client.post(
        f"/v2/models/{name}/infer", json=matrix_request(rows), headers=headers
    )


@pytest.fixture
def two_versions(publish: Publish) -> tuple[Published, Published]:
    first = publish()
    second = publish(seed=1, promote=False)
    return first, second


def test_ab_split_is_sticky_and_every_answer_names_its_variant(
    two_versions: tuple[Published, Published], start_gateway: StartGateway
) -> None:
    first, second = two_versions
    gateway = start_gateway(config=GatewayConfig(api_token=TOKEN))
    policy = {
        "variants": [
            {"name": "champion", "model": "rentals@production", "weight": 1},
            {"name": "challenger", "model": "rentals:2", "weight": 1},
        ],
        "sticky": "X-User",
    }
    assert set_policy(gateway, "bikes", policy).status_code == 200
    wait_serving(gateway, "bikes", variants=2)
    rows = first.features.head(1)
    expected = {"champion": first.model.predict(rows), "challenger": second.model.predict(rows)}
    seen: Counter[str] = Counter()
    for user in range(120):
        response = infer(gateway, "bikes", rows, **{"X-User": f"user-{user}"})
        assert response.status_code == 200, response.text
        variant = response.headers["X-Evergreen-Variant"]
        body = response.json()
        assert body["model_name"] == "bikes"
        assert body["model_version"] == response.headers["X-Model-Version"]
        assert body["model_version"] == {"champion": "1", "challenger": "2"}[variant]
        np.testing.assert_allclose(body["outputs"][0]["data"], expected[variant])
        seen[variant] += 1
    assert 30 <= seen["champion"] <= 90 and seen["champion"] + seen["challenger"] == 120
    # the same caller always lands on the same variant
    variants = {
        infer(gateway, "bikes", rows, **{"X-User": "alice"}).headers["X-Evergreen-Variant"]
        for _ in range(15)
    }
    assert len(variants) == 1
    # the model is still served under its own name, by its production version
    assert infer(gateway, "rentals", rows).headers["X-Model-Version"] == "1"


def test_shadows_never_slow_or_fail_the_primary_and_are_logged(
    context: Context, two_versions: tuple[Published, Published], start_gateway: StartGateway
) -> None:
    first, second = two_versions
    slow = register_custom(context, Slow(second.model, 0.4), first.features)
    broken = register_custom(context, Broken(), first.features)
    # every copy whatever the load (a busy test machine would have the gateway shed some)
    gateway = start_gateway(config=GatewayConfig(api_token=TOKEN, shadow_busy_share=1.0))
    policy = {
        "variants": [{"name": "main", "model": "rentals@production"}],
        "shadows": [
            {"name": "slow", "model": f"rentals:{slow}"},
            {"name": "broken", "model": f"rentals:{broken}"},
        ],
    }
    assert set_policy(gateway, "bikes", policy).status_code == 200
    wait_serving(gateway, "bikes", variants=1, shadows=2)
    started = time.perf_counter()
    for i in range(10):
        response = infer(gateway, "bikes", first.features.iloc[[i]], **{"X-Request-Id": str(i)})
        assert response.status_code == 200, response.text
        assert response.headers["X-Evergreen-Variant"] == "main"
        np.testing.assert_allclose(
            response.json()["outputs"][0]["data"], first.model.predict(first.features.iloc[[i]])
        )
    assert time.perf_counter() - started < 2.0  # the slow shadow alone would need 4 s
    gateway.stop()  # graceful: waits for the shadows still running, then writes the log
    segments = context.predictions.endpoint_segments("bikes")
    logged = read_segments(context.artifacts, segments, with_source=True)
    by_variant = logged.groupby("variant")
    assert by_variant.size().to_dict() == {"broken": 10, "main": 10, "slow": 10}
    assert set(logged[logged["variant"] == "main"]["role"]) == {"primary"}
    shadow_rows = logged[logged["variant"] != "main"]
    assert set(shadow_rows["role"]) == {"shadow"}
    broken_rows = logged[logged["variant"] == "broken"]
    assert broken_rows["error"].str.contains("this shadow is broken").all()
    assert broken_rows["prediction"].isna().all()
    slow_rows = logged[logged["variant"] == "slow"]
    assert (slow_rows["latency_ms"] >= 400).all() and slow_rows["error"].isna().all()
    assert set(slow_rows["version"]) == {slow} and set(broken_rows["version"]) == {broken}
    # each shadow answered the same requests as the primary
    main_ids = set(logged[logged["variant"] == "main"]["request_id"])
    assert set(slow_rows["request_id"]) == main_ids
    # the shadows' rows were stored without the inputs, which the primary's rows hold...
    features = list(first.features.columns)
    assert shadow_rows[features].isna().all().all()
    assert logged[logged["variant"] == "main"][features].notna().all().all()
    # ...and read back with them, row for row
    (main_version,) = set(logged[logged["variant"] == "main"]["version"])
    main = read_predictions(context.predictions, context.artifacts, "rentals", version=main_version)
    main = main.set_index("request_id")[features]
    for version in (slow, broken):
        read_back = read_predictions(
            context.predictions, context.artifacts, "rentals", version=version
        )
        assert len(read_back) == 10 and set(read_back["role"]) == {"shadow"}
        pd.testing.assert_frame_equal(
            read_back.set_index("request_id")[features], main.loc[read_back["request_id"]]
        )


def test_control_api_needs_a_token_and_refuses_bad_policies(
    context: Context, two_versions: tuple[Published, Published], start_gateway: StartGateway
) -> None:
    policy = {"variants": [{"name": "a", "model": "rentals@production"}]}
    closed = start_gateway()  # no token configured: control routes are refused outright
    assert closed.client.put("/api/v1/endpoints/x", json={"policy": policy}).status_code == 403
    gateway = start_gateway(config=GatewayConfig(api_token=TOKEN))
    url = "/api/v1/endpoints/x"
    assert gateway.client.put(url, json={"policy": policy}).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert gateway.client.put(url, json={"policy": policy}, headers=wrong).status_code == 401
    bad = gateway.client.put(
        url, json={"policy": {"variants": [{"name": "a", "model": "rentals", "weight": -1}]}},
        headers=AUTH,
    )  # fmt: skip
    assert bad.status_code == 400 and "weight" in bad.json()["error"]
    unknown = set_policy(gateway, "x", {"variants": [{"name": "a", "model": "nope@production"}]})
    assert unknown.status_code == 404 and "nope" in unknown.json()["error"]
    no_alias = set_policy(gateway, "x", {"variants": [{"name": "a", "model": "rentals@gold"}]})
    assert no_alias.status_code == 404 and "gold" in no_alias.json()["error"]
    assert gateway.client.get("/api/v1/endpoints/x").status_code == 404  # nothing half-written
    assert set_policy(gateway, "x", policy).status_code == 200
    listed = {e["name"]: e for e in gateway.client.get("/api/v1/endpoints").json()}
    assert listed["x"]["stored"] and not listed["rentals"]["stored"]
    assert gateway.client.delete(url, headers=AUTH).status_code == 200
    assert gateway.client.delete(url, headers=AUTH).status_code == 404
    actions = [e.action for e in context.registry.audit_log() if e.subject == "endpoint/x"]
    assert actions == ["set_endpoint", "delete_endpoint"]


def test_verdict_finds_the_worse_shadow_once_labels_arrive(
    two_versions: tuple[Published, Published], start_gateway: StartGateway
) -> None:
    gateway = start_gateway(config=GatewayConfig(api_token=TOKEN, shadow_busy_share=1.0))
    policy = {
        "variants": [{"name": "main", "model": "rentals@production"}],
        "shadows": [{"name": "candidate", "model": "rentals:2"}],
    }
    assert set_policy(gateway, "bikes", policy).status_code == 200
    wait_serving(gateway, "bikes", variants=1, shadows=1)
    before = gateway.client.get("/api/v1/endpoints/bikes/verdict").json()
    assert (before["requests"], before["labelled"], before["variants"]) == (0, 0, [])
    features, target = numeric_data(0)
    for i in range(0, 120, 2):
        body = matrix_request(features.iloc[[i]], id=f"r{i}")
        assert gateway.client.post("/v2/models/bikes/infer", json=body).status_code == 200
    labels = [{"request_id": f"r{i}", "label": float(target.iloc[i])} for i in range(0, 120, 2)]
    stored = gateway.client.post("/api/v1/feedback", json={"labels": labels})
    assert stored.json() == {"stored": 60}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        verdict = gateway.client.get("/api/v1/endpoints/bikes/verdict").json()
        logged = [v["requests"] for v in verdict["variants"]]
        if verdict["labelled"] == 60 and logged == [60, 60]:  # both written to the log
            break
        time.sleep(0.1)
    main, candidate = verdict["variants"]
    assert (main["name"], candidate["name"]) == ("main", "candidate")
    assert main["metric"]["name"] == "rmse" and main["metric"]["n"] == 60
    assert main["metric"]["value"] < candidate["metric"]["value"]
    assert candidate["agreement"] < 0.5
    versus = candidate["vs_primary"]
    assert versus["verdict"] == "worse" and versus["p_value"] < 0.05
    assert versus["ci_low"] > 0  # its loss is higher than the primary's
    assert "candidate: worse than main" in verdict["summary"]
    assert set(before) == set(verdict)  # one shape, logged requests or not


def test_a_manual_retrain_is_queued_through_the_control_api(
    context: Context, two_versions: tuple[Published, Published], start_gateway: StartGateway
) -> None:
    gateway = start_gateway(config=GatewayConfig(api_token=TOKEN))
    url = "/api/v1/projects/rentals/triggers"
    assert gateway.client.post(url, json={"reason": "x"}).status_code == 401
    unknown = gateway.client.post("/api/v1/projects/nope/triggers", headers=AUTH)
    assert unknown.status_code == 404 and "nope" in unknown.json()["error"]
    assert context.events.list() == []  # nothing queued for a refused request

    first = gateway.client.post(url, json={"reason": "labels look off"}, headers=AUTH)
    assert first.status_code == 202 and first.json()["new"]
    again = gateway.client.post(url, headers=AUTH)  # joins the pending event
    assert (again.json()["event_id"], again.json()["new"]) == (first.json()["event_id"], False)
    (event,) = context.events.list("rentals")
    assert (event.kind, event.reason, event.status) == ("manual", "labels look off", "pending")
    bad = gateway.client.post(url, json={"reason": ""}, headers=AUTH)
    assert bad.status_code == 400
