"""Managing endpoints: set, show, list and delete traffic policies, audited.

Used by the control API and the CLI alike; every gateway polling the same metadata database
picks a change up within its poll interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from evergreen.core.clock import Clock, SystemClock
from evergreen.core.ids import ModelRef, ordered_id
from evergreen.errors import InvalidInput, NotFound
from evergreen.registry import Registry
from evergreen.serving.policy import EndpointPolicy, check_name
from evergreen.store.endpoints import EndpointRepository
from evergreen.store.tables import AuditEventRow


@dataclass(frozen=True)
class Endpoint:
    name: str
    policy: EndpointPolicy
    updated_at: datetime
    updated_by: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "policy": self.policy.to_json(),
            "updated_at": self.updated_at.isoformat(),
            "updated_by": self.updated_by,
        }


class Endpoints:
    def __init__(
        self, repo: EndpointRepository, registry: Registry, clock: Clock | None = None
    ) -> None:
        self.repo = repo
        self.registry = registry
        self.clock = clock or SystemClock()

    def list(self) -> list[Endpoint]:
        return [
            Endpoint(r.name, EndpointPolicy.parse(r.policy, r.name), r.updated_at, r.updated_by)
            for r in self.repo.list()
        ]

    def get(self, name: str) -> Endpoint:
        row = self.repo.get(name)
        if row is None:
            raise NotFound(f"no endpoint named {name!r}; see `evergreen endpoints list`")
        return Endpoint(
            row.name, EndpointPolicy.parse(row.policy, name), row.updated_at, row.updated_by
        )

    def set(
        self, name: str, policy: EndpointPolicy | dict[str, Any], *, actor: str, reason: str = ""
    ) -> Endpoint:
        """Create or replace ``name``'s policy. Every reference must resolve now, so a typo is
        refused here rather than leaving the endpoint unserved."""
        try:
            check_name(name, "endpoint name")
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        if not isinstance(policy, EndpointPolicy):
            policy = EndpointPolicy.parse(policy)
        for ref in [v.model for v in policy.variants] + [s.model for s in policy.shadows]:
            self.registry.resolve(ModelRef.parse(ref))  # NotFound names the model or stage
        previous = self.repo.get(name)
        now = self.clock.now()
        audit = self._audit(
            actor,
            "set_endpoint",
            name,
            reason,
            {"policy": policy.to_json(), "previous": previous.policy if previous else None},
        )
        row = self.repo.put(name, policy.to_json(), at=now, actor=actor, audit=audit)
        return Endpoint(row.name, policy, row.updated_at, row.updated_by)

    def delete(self, name: str, *, actor: str, reason: str = "") -> None:
        """Remove a stored policy (a model keeps being served under its own name)."""
        previous = self.get(name)
        audit = self._audit(
            actor, "delete_endpoint", name, reason, {"previous": previous.policy.to_json()}
        )
        self.repo.delete(name, audit)

    def _audit(
        self, actor: str, action: str, name: str, reason: str, details: dict[str, Any]
    ) -> AuditEventRow:
        return AuditEventRow(
            id=ordered_id("audit"),
            at=self.clock.now(),
            actor=actor,
            action=action,
            subject=f"endpoint/{name}",
            from_state=None,
            to_state=None,
            reason=reason,
            details=details,
        )
