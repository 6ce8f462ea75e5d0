"""The registry over REST (``/api/v1``), the same operations as the Python API and the CLI.

Reads are open; every write (promote, approve, aliases, model settings) needs
``Authorization: Bearer <EVERGREEN_API_TOKEN>``, and a server started without a token refuses
writes altogether. The OpenAPI document is at ``/openapi.json``. Errors answer
``{"error": "..."}`` with the status of their kind (404 unknown, 400 bad input, 409 refused,
for example a promotion without its evidence).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from evergreen.registry import Registry, audit_dict, version_dict
from evergreen.registry.registry import STAGES

Lineage = Callable[[str, int], dict[str, Any]]


class _Write(BaseModel):
    model_config = ConfigDict(extra="forbid")
    actor: str = Field(
        default="api", min_length=1, max_length=128, description="who, for the audit log"
    )
    reason: str = ""


class StageChange(_Write):
    stage: str = Field(description=f"one of {', '.join(STAGES)}")
    force: bool = Field(default=False, description="override missing evidence (needs a reason)")


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    approver: str = Field(min_length=1, max_length=128)
    decision: Literal["approve", "reject"] = "approve"
    comment: str = ""


class AliasTarget(_Write):
    version: int = Field(ge=1)


class ModelSettings(_Write):
    approvers: list[str] | None = None
    required_approvals: int | None = Field(default=None, ge=0)
    owner: str | None = None
    description: str | None = None


def bearer_guard(token: str | None, what: str, *, open_without_token: bool = False) -> Any:
    """A dependency that checks ``Authorization: Bearer <token>`` for ``what``. Without a
    configured token the routes are refused (403), or open when ``open_without_token``."""

    def require_token(authorization: Annotated[str | None, Header()] = None) -> None:
        if token is None:
            if open_without_token:
                return
            raise HTTPException(
                403, f"{what} are disabled: start the server with EVERGREEN_API_TOKEN set"
            )
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
            raise HTTPException(
                401,
                f"{what} need 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return Depends(require_token)


def registry_router(
    registry: Registry, *, token: str | None, lineage: Lineage | None = None
) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["registry"])
    write = [bearer_guard(token, "registry writes")]

    def model_view(name: str) -> dict[str, Any]:
        model = registry.get_model(name)
        return {
            "name": model.name,
            "task": model.task,
            "target": model.target,
            "owner": model.owner,
            "description": model.description,
            "approvers": model.approvers,
            "required_approvals": model.required_approvals,
            "created_at": model.created_at.isoformat(),
            "aliases": registry.aliases(name),
            "versions": [version_dict(name, v) for v in registry.versions(name)],
        }

    @router.get("/models")
    def list_models() -> list[dict[str, Any]]:
        return [
            {"name": m.name, "task": m.task, "target": m.target, "owner": m.owner}
            for m in registry.list_models()
        ]

    @router.get("/models/{name}")
    def get_model(name: str) -> dict[str, Any]:
        return model_view(name)

    @router.patch("/models/{name}", dependencies=write)
    def configure(name: str, body: ModelSettings) -> dict[str, Any]:
        registry.configure(
            name,
            actor=body.actor,
            approvers=body.approvers,
            required_approvals=body.required_approvals,
            owner=body.owner,
            description=body.description,
            reason=body.reason,
        )
        return model_view(name)

    @router.get("/models/{name}/versions/{version}")
    def get_version(name: str, version: int) -> dict[str, Any]:
        return version_dict(name, registry.get_version(name, version))

    @router.get("/models/{name}/versions/{version}/evidence")
    def evidence(name: str, version: int) -> dict[str, Any]:
        return registry.evidence(name, version).to_dict()

    @router.get("/models/{name}/versions/{version}/lineage")
    def get_lineage(name: str, version: int) -> dict[str, Any]:
        if lineage is None:
            raise HTTPException(404, "lineage is not served by this server")
        return lineage(name, version)

    @router.post("/models/{name}/versions/{version}/stage", dependencies=write)
    def set_stage(name: str, version: int, body: StageChange) -> dict[str, Any]:
        row = registry.promote(
            name, version, body.stage, actor=body.actor, reason=body.reason, force=body.force
        )
        return version_dict(name, row)

    @router.post("/models/{name}/versions/{version}/approvals", dependencies=write)
    def approve(name: str, version: int, body: Decision) -> dict[str, Any]:
        registry.approve(name, version, body.approver, decision=body.decision, comment=body.comment)
        return registry.evidence(name, version).to_dict()

    @router.put("/models/{name}/aliases/{alias}", dependencies=write)
    def set_alias(name: str, alias: str, body: AliasTarget) -> dict[str, int]:
        registry.set_alias(name, alias, body.version, actor=body.actor, reason=body.reason)
        return registry.aliases(name)

    @router.delete("/models/{name}/aliases/{alias}", dependencies=write)
    def remove_alias(name: str, alias: str, actor: str = "api", reason: str = "") -> dict[str, int]:
        registry.remove_alias(name, alias, actor=actor, reason=reason)
        return registry.aliases(name)

    @router.get("/audit")
    def audit(model: str | None = None) -> list[dict[str, Any]]:
        if model is not None:
            registry.get_model(model)
        return [audit_dict(e) for e in registry.audit_log(model)]

    return router
