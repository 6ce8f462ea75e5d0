"""The registry's REST API on the real gateway (uvicorn on loopback): reads are open, writes
need the bearer token, promotions need their evidence, errors are JSON with their status."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from evergreen.bootstrap import Context
from evergreen.serving import GatewayThread, create_app
from serving.conftest import Publish

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def api(context: Context) -> Iterator[httpx.Client]:
    def lineage(name: str, version: int) -> dict[str, object]:
        return {"model": name, "version": version}

    app = create_app(context.registry, None, api_token=TOKEN, lineage=lineage)
    with GatewayThread(app) as thread, httpx.Client(base_url=thread.url, timeout=10) as client:
        yield client


def test_reads_list_models_versions_and_evidence(api: httpx.Client, publish: Publish) -> None:
    publish()
    assert [m["name"] for m in api.get("/api/v1/models").json()] == ["rentals"]
    model = api.get("/api/v1/models/rentals").json()
    assert [(v["version"], v["stage"]) for v in model["versions"]] == [(1, "production")]
    assert api.get("/api/v1/models/rentals/versions/1").json()["validation"] == {"passed": True}
    assert api.get("/api/v1/models/rentals/versions/1/evidence").json()["missing"] == []
    assert api.get("/api/v1/models/rentals/versions/1/lineage").json() == {
        "model": "rentals",
        "version": 1,
    }
    missing = api.get("/api/v1/models/nope")
    assert missing.status_code == 404 and "no model named 'nope'" in missing.json()["error"]


def test_writes_need_the_token(api: httpx.Client, publish: Publish) -> None:
    publish()
    publish(seed=1, promote=False)
    body = {"stage": "production", "actor": "mallory"}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        refused = api.post("/api/v1/models/rentals/versions/2/stage", json=body, headers=headers)
        assert refused.status_code == 401
        assert "Bearer" in refused.json()["error"]
    versions = api.get("/api/v1/models/rentals").json()["versions"]
    assert [v["stage"] for v in versions] == ["production", "development"]

    done = api.post("/api/v1/models/rentals/versions/2/stage", json=body, headers=AUTH)
    assert done.status_code == 200 and done.json()["stage"] == "production"
    audit = api.get("/api/v1/audit", params={"model": "rentals"}).json()
    assert audit[-1]["actor"] == "mallory" and audit[-1]["action"] == "transition"


def test_promotion_without_evidence_is_409_and_approvals_unlock_it(
    api: httpx.Client, publish: Publish, context: Context
) -> None:
    publish()
    publish(seed=1, promote=False)
    configured = api.patch(
        "/api/v1/models/rentals",
        json={"approvers": ["alice"], "required_approvals": 1, "actor": "admin"},
        headers=AUTH,
    )
    assert configured.status_code == 200 and configured.json()["approvers"] == ["alice"]

    stage = {"stage": "production", "actor": "ci"}
    refused = api.post("/api/v1/models/rentals/versions/2/stage", json=stage, headers=AUTH)
    assert refused.status_code == 409
    assert "needs 1 more approval(s) from alice" in refused.json()["error"]
    assert context.registry.production("rentals").version == 1  # type: ignore[union-attr]

    approved = api.post(
        "/api/v1/models/rentals/versions/2/approvals",
        json={"approver": "alice", "comment": "ok"},
        headers=AUTH,
    )
    assert approved.status_code == 200 and approved.json()["approvals"] == ["alice"]
    assert api.post("/api/v1/models/rentals/versions/2/stage", json=stage, headers=AUTH).is_success


def test_aliases_and_bad_bodies(api: httpx.Client, publish: Publish) -> None:
    publish()
    put = api.put("/api/v1/models/rentals/aliases/champion", json={"version": 1}, headers=AUTH)
    assert put.status_code == 200 and put.json() == {"champion": 1}
    gone = api.delete("/api/v1/models/rentals/aliases/champion", headers=AUTH)
    assert gone.status_code == 200 and gone.json() == {}
    assert api.delete("/api/v1/models/rentals/aliases/champion", headers=AUTH).status_code == 404

    extra = api.put(
        "/api/v1/models/rentals/aliases/champion", json={"version": 1, "bogus": 1}, headers=AUTH
    )
    assert extra.status_code == 400 and "bogus" in extra.json()["error"]
    stage = api.post(
        "/api/v1/models/rentals/versions/1/stage", json={"stage": "live"}, headers=AUTH
    )
    assert stage.status_code == 400 and "unknown stage 'live'" in stage.json()["error"]


def test_a_server_without_a_token_refuses_writes(context: Context, publish: Publish) -> None:
    publish()
    app = create_app(context.registry, None)
    with GatewayThread(app) as thread, httpx.Client(base_url=thread.url, timeout=10) as client:
        refused = client.put(
            "/api/v1/models/rentals/aliases/champion", json={"version": 1}, headers=AUTH
        )
        assert refused.status_code == 403
        assert "EVERGREEN_API_TOKEN" in refused.json()["error"]
        paths = client.get("/openapi.json").json()["paths"]
        assert "/api/v1/models/{name}/versions/{version}/stage" in paths
        assert "/v2/models/{model_name}/infer" in paths or any("infer" in p for p in paths)
