"""The gateway's control API: endpoint policies, experiment verdicts, feedback labels, and
manual retrain triggers (queued for the controller).

Policy changes always need ``Authorization: Bearer <EVERGREEN_API_TOKEN>`` (refused with 403 on
a gateway without a token). Feedback is data, not control: it needs the inference token when the
gateway has one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from evergreen.core.clock import Clock
from evergreen.serving.endpoints import Endpoints
from evergreen.serving.model_cache import ModelCache
from evergreen.serving.policy import EndpointPolicy
from evergreen.serving.registry_api import bearer_guard
from evergreen.store.endpoints import FeedbackRepository
from evergreen.store.events import EventRepository, new_event

Verdict = Callable[[str], dict[str, Any]]
MAX_LABELS = 100_000


class PolicyChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    policy: EndpointPolicy
    actor: str = Field(default="api", min_length=1, max_length=128)
    reason: str = ""


class Label(BaseModel):
    model_config = ConfigDict(extra="forbid")
    request_id: str = Field(min_length=1, max_length=128)
    label: Any


class TriggerRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="manual trigger (API)", min_length=1, max_length=2000)
    actor: str = Field(default="api", min_length=1, max_length=128)


class Feedback(BaseModel):
    model_config = ConfigDict(extra="forbid")
    labels: list[Label] = Field(min_length=1, max_length=MAX_LABELS)


def control_router(
    endpoints: Endpoints,
    feedback: FeedbackRepository,
    cache: ModelCache,
    clock: Clock,
    *,
    token: str | None,
    inference_token: str | None,
    verdict: Verdict | None = None,
    events: EventRepository | None = None,
) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["serving"])
    control = [bearer_guard(token, "endpoint changes")]
    labels_guard = [bearer_guard(inference_token, "feedback labels", open_without_token=True)]

    def view(name: str) -> dict[str, Any]:
        served = cache.endpoints.get(name)
        return {
            "name": name,
            "serving": None
            if served is None
            else {
                "variants": [
                    {
                        "name": v.name,
                        "model": v.served.model.name,
                        "version": v.served.model.version,
                        "weight": v.weight,
                        "backend": v.served.backend,
                    }
                    for v in served.variants
                ],
                "shadows": [
                    {
                        "name": s.name,
                        "model": s.served.model.name,
                        "version": s.served.model.version,
                        "sample": s.sample,
                    }
                    for s in served.shadows
                ],
            },
        }

    @router.get("/endpoints")
    async def list_endpoints() -> list[dict[str, Any]]:
        stored = {e.name: e for e in await asyncio.to_thread(endpoints.list)}
        names = sorted(set(stored) | set(cache.endpoints))
        return [
            {
                **view(n),
                "policy": stored[n].policy.to_json() if n in stored else None,
                "stored": n in stored,
            }
            for n in names
        ]

    @router.get("/endpoints/{name}")
    async def show_endpoint(name: str) -> dict[str, Any]:
        endpoint = await asyncio.to_thread(endpoints.get, name)
        return {**endpoint.to_dict(), **view(name)}

    @router.put("/endpoints/{name}", dependencies=control)
    async def set_endpoint(name: str, change: PolicyChange) -> dict[str, Any]:
        endpoint = await asyncio.to_thread(
            endpoints.set, name, change.policy, actor=change.actor, reason=change.reason
        )
        cache.refresh_soon()
        return endpoint.to_dict()

    @router.delete("/endpoints/{name}", dependencies=control)
    async def delete_endpoint(name: str, actor: str = "api", reason: str = "") -> dict[str, str]:
        await asyncio.to_thread(endpoints.delete, name, actor=actor, reason=reason)
        cache.refresh_soon()
        return {"deleted": name}

    if verdict is not None:
        judge = verdict

        @router.get("/endpoints/{name}/verdict")
        async def endpoint_verdict(name: str) -> dict[str, Any]:
            return await asyncio.to_thread(judge, name)

    @router.post("/feedback", dependencies=labels_guard)
    async def add_feedback(body: Feedback) -> dict[str, int]:
        pairs = [(item.request_id, item.label) for item in body.labels]
        stored = await asyncio.to_thread(feedback.add, pairs, clock.now())
        return {"stored": stored}

    if events is not None:
        queue = events

        @router.post("/projects/{project}/triggers", dependencies=control, status_code=202)
        async def trigger(project: str, body: TriggerRequest | None = None) -> dict[str, Any]:
            """Queue a manual retrain of ``project`` for the controller (a pending one is
            joined, and runs at once even if a guard deferred it)."""
            asked = body or TriggerRequest()
            await asyncio.to_thread(endpoints.registry.get_model, project)  # 404 if unknown
            event, new = await asyncio.to_thread(
                queue.enqueue,
                new_event(project, "manual", asked.reason, {"actor": asked.actor}, clock.now()),
            )
            return {"event_id": event.id, "new": new, "status": event.status}

    return router
