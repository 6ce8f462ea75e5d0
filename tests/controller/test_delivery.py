"""Automation level 2: a retrained candidate goes to shadow, then a canary, then production, each
step on live evidence from the serving experiment, and is rolled back when it regresses.

The end-to-end tests drive a real gateway (uvicorn on loopback) with V2 requests and attach
ground-truth labels by request id, as a client's feedback would.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from evergreen import bootstrap
from evergreen.bootstrap import Context
from evergreen.controller.delivery import decide
from evergreen.controller.service import Service
from evergreen.errors import NotFound
from evergreen.pipeline.project import Project
from evergreen.pipeline.rollout import RolloutSpec
from evergreen.pipeline.triggers import Triggers
from evergreen.serving.app import GatewayConfig, create_app
from evergreen.serving.prediction_log import PredictionLogWriter
from evergreen.serving.server import GatewayThread

SPEC = RolloutSpec(shadow_requests=40, canary_steps=(0.5,), step_requests=20, min_labels=20)


def candidate(requests: int, **fields: Any) -> dict[str, Any]:
    variant = {"name": "candidate", "role": "shadow", "requests": requests, "error_rate": None}
    return {"variants": [{"name": "champion", "requests": requests}, variant | fields]}


def versus(difference: float, p: float, n: int = 50) -> dict[str, Any]:
    return {"loss_difference": difference, "p_value": p, "n": n, "significant": p < 0.05}


@pytest.mark.parametrize(
    ("verdict", "action", "words"),
    [
        ({"variants": []}, "wait", "no request"),
        (candidate(10, vs_primary=versus(-1.0, 0.5, 10)), "wait", "10 of 40 candidate requests"),
        (candidate(10, vs_primary=versus(2.0, 0.001, 10)), "rollback", "significantly worse"),
        (candidate(50, vs_primary=versus(-2.0, 0.001)), "advance", "not worse"),
        (candidate(50, vs_primary=versus(0.1, 0.4)), "advance", "not worse"),
        (candidate(50, vs_primary=versus(0.1, 0.4, n=5)), "wait", "5 of 20 labelled"),
        (candidate(50), "wait", "0 of 20 labelled"),
        (
            candidate(50, error_rate={"value": 0.5, "ci_low": 0.36, "ci_high": 0.64}),
            "rollback",
            "fails 50.0% of requests",
        ),
    ],
    ids=[
        "nothing-yet",
        "too-few-requests",
        "early-regression",
        "better",
        "no-difference",
        "too-few-labels",
        "no-labels",
        "errors",
    ],
)
def test_decide(verdict: dict[str, Any], action: str, words: str) -> None:
    decision = decide(SPEC, verdict, required=40)
    assert decision.action == action and words in decision.reason


def test_agreement_floor_rolls_back_before_any_canary() -> None:
    spec = SPEC.model_copy(update={"min_agreement": 0.9, "min_labels": 0})
    verdict = candidate(50, agreement=0.6)
    assert decide(spec, verdict, required=40).action == "rollback"
    assert decide(spec, candidate(50, agreement=0.95), required=40).action == "advance"


def test_canary_steps_must_grow() -> None:
    with pytest.raises(ValueError, match="must grow"):
        RolloutSpec(canary_steps=(0.5, 0.25))


# -- end to end ------------------------------------------------------------------------------


class Traffic:
    """A client of the real gateway: V2 requests with ids, labels attached by request id."""

    def __init__(self, ctx: Context, client: httpx.Client, writer: PredictionLogWriter) -> None:
        self.ctx, self.client, self.writer = ctx, client, writer

    def send(self, project: Project, rows: pd.DataFrame) -> list[tuple[str, float, str]]:
        """One request per row; (request id, answer, variant that answered) each."""
        answers = []
        for _, row in rows.iterrows():
            request_id = uuid.uuid4().hex
            body = {
                "id": request_id,
                "inputs": [
                    {"name": c, "datatype": "FP64", "shape": [1], "data": [float(row[c])]}
                    for c in rows.columns
                ],
            }
            response = self.client.post(f"/v2/models/{project.name}/infer", json=body)
            assert response.status_code == 200, response.text
            answer = response.json()
            variant = response.headers["x-evergreen-variant"]
            answers.append((request_id, float(answer["outputs"][0]["data"][0]), variant))
        return answers

    def label(self, labels: list[tuple[str, float]]) -> None:
        self.ctx.feedback.add(labels, at=self.ctx.clock.now())

    def settle(self) -> None:
        time.sleep(0.3)  # shadows answer off the request path
        self.writer.flush()


@pytest.fixture
def level2(
    context: Context, project: Project, hourly: pd.DataFrame, landing: Path
) -> Iterator[tuple[Service, Traffic, pd.DataFrame]]:
    """A level-2 project with a champion (v1) and a staged candidate (v2) in shadow, served by
    a real gateway; yields the service, the traffic client and rows to send."""
    project.automation = 2
    project.rollout = SPEC
    project.triggers = Triggers(drift=False)
    service = bootstrap.service(context, {project.name: project})
    hourly.iloc[:1500].to_csv(landing / "a.csv", index=False)
    service.controller.trigger(project.name, "manual", "first model")
    assert service.tick().runs[0][1].promoted  # no champion yet: promoted directly

    hourly.iloc[1500:3000].to_csv(landing / "b.csv", index=False)
    service.controller.trigger(project.name, "manual", "retrain")
    tick = service.tick()
    ((_, result),) = tick.runs
    assert result.status == "succeeded" and not result.promoted
    assert context.registry.get_version(project.name, 2).stage == "staging"
    rollout = context.rollouts.active(project.name)
    assert rollout is not None and (rollout.stage, rollout.candidate_version) == ("shadow", 2)
    policy = context.endpoints.get(project.name).policy
    assert [s.model for s in policy.shadows] == [f"{project.name}:2"]

    writer = PredictionLogWriter(context.artifacts, context.predictions, flush_interval=60)
    # the shadow sees every request however busy the test machine (it is counted below)
    app = create_app(
        context.registry, writer, poll_interval=0.05, config=GatewayConfig(shadow_busy_share=1.0)
    )
    features = context.registry.load(project.name, 1).signature.input_names
    rows = hourly.iloc[3000:3400][features].astype(float)
    with GatewayThread(app) as gateway, httpx.Client(base_url=gateway.url, timeout=30) as client:
        traffic = Traffic(context, client, writer)
        _wait_for(lambda: _shadowed(client, project.name))
        yield service, traffic, rows


def _shadowed(client: httpx.Client, name: str) -> bool:
    return client.get(f"/v2/models/{name}/ready").status_code == 200


def _wait_for(condition: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def test_a_better_candidate_goes_through_shadow_and_canary_to_production(
    context: Context, project: Project, level2: tuple[Service, Traffic, pd.DataFrame]
) -> None:
    service, traffic, rows = level2
    truth = context.registry.load(project.name, 2)  # labels that favour the candidate

    answers = traffic.send(project, rows.iloc[:50])
    assert {variant for _, _, variant in answers} == {"champion"}  # shadows are never returned
    traffic.label(list(zip([a[0] for a in answers], truth.predict(rows.iloc[:50]), strict=True)))
    traffic.settle()
    (moved,) = service.tick().rollouts
    assert (moved.stage, moved.traffic) == ("canary", 0.5), moved.history[-1]["reason"]
    _wait_for(lambda: "candidate" in {v for _, _, v in traffic.send(project, rows.iloc[:4])})

    answers = traffic.send(project, rows.iloc[50:150])
    served = {variant for _, _, variant in answers}
    assert served == {"champion", "candidate"}  # the canary takes about half
    traffic.label(list(zip([a[0] for a in answers], truth.predict(rows.iloc[50:150]), strict=True)))
    traffic.settle()
    (done,) = service.tick().rollouts
    assert done.stage == "promoted", done.history[-1]["reason"]
    assert context.registry.production(project.name).version == 2  # type: ignore[union-attr]
    assert context.registry.get_version(project.name, 1).stage == "archived"
    with pytest.raises(NotFound):
        context.endpoints.get(project.name)  # back to the implicit endpoint: production
    stages = [step["stage"] for step in done.history]
    assert stages == ["shadow", "canary", "promoted"]
    assert all("evidence" in step for step in done.history[1:])
    assert context.rollouts.active(project.name) is None


def test_a_candidate_worse_on_live_labels_is_rolled_back(
    context: Context, project: Project, level2: tuple[Service, Traffic, pd.DataFrame]
) -> None:
    service, traffic, rows = level2
    answers = traffic.send(project, rows.iloc[:60])
    # The champion's answers were exactly right: the candidate can only be worse.
    traffic.label([(request_id, answer) for request_id, answer, _ in answers])
    traffic.settle()
    (moved,) = service.tick().rollouts
    assert moved.stage == "rolled_back", moved.history[-1]["reason"]
    assert "significantly worse" in moved.reason
    assert context.registry.get_version(project.name, 2).stage == "archived"
    assert context.registry.production(project.name).version == 1  # type: ignore[union-attr]
    with pytest.raises(NotFound):
        context.endpoints.get(project.name)
    # Production keeps answering, from the champion.
    _wait_for(lambda: {v for _, _, v in traffic.send(project, rows.iloc[:3])} == {"production"})
    audit = [e.reason for e in context.registry.audit_log(f"{project.name}:2")]
    assert any("rolled back" in reason for reason in audit)


def test_a_newer_candidate_supersedes_a_rollout_in_progress(
    context: Context,
    project: Project,
    level2: tuple[Service, Traffic, pd.DataFrame],
    hourly: pd.DataFrame,
    landing: Path,
) -> None:
    service, _traffic, _rows = level2
    first = context.rollouts.active(project.name)
    hourly.iloc[3000:4500].to_csv(landing / "c.csv", index=False)
    service.controller.trigger(project.name, "manual", "more data")
    service.tick()
    current = context.rollouts.active(project.name)
    assert current is not None and current.candidate_version == 3
    old = context.rollouts.get(first.id)  # type: ignore[union-attr]
    assert old is not None and old.stage == "superseded" and old.finished_at is not None
    assert context.registry.get_version(project.name, 2).stage == "archived"
    assert np.isclose(current.traffic, 0.0)
