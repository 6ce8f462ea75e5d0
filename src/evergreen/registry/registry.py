"""The model registry: models, immutable versions, stages and the audit trail.

A version is registered only after its artifact is stored and read back verified; a failed
registration leaves nothing behind. A stage change and its audit events commit together.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import TYPE_CHECKING, Any

from evergreen.core.clock import Clock, SystemClock
from evergreen.core.ids import ModelRef, check_name, new_id, ordered_id
from evergreen.errors import (
    IntegrityFailure,
    InvalidInput,
    InvalidState,
    NotFound,
    PromotionRefused,
)
from evergreen.registry.governance import Evidence, evidence_of
from evergreen.store.artifacts import ArtifactStore
from evergreen.store.models import ModelRepository
from evergreen.store.tables import ApprovalRow, AuditEventRow, ModelRow, ModelVersionRow

if TYPE_CHECKING:  # the flavors (scikit-learn) and pandas load with the first model, not here
    import pandas as pd

    from evergreen.flavors import LoadedModel, Signature

STAGES = ("development", "staging", "production", "archived")


def check_stage(stage: str) -> str:
    if stage not in STAGES:
        raise InvalidInput(f"unknown stage {stage!r}; use one of {', '.join(STAGES)}")
    return stage


class Registry:
    def __init__(
        self, models: ModelRepository, artifacts: ArtifactStore, clock: Clock | None = None
    ):
        self.models = models
        self.artifacts = artifacts
        self.clock = clock or SystemClock()
        self._model_ids: dict[str, ModelRow] = {}  # name → row, for the id register needs

    def _audit(
        self,
        actor: str,
        action: str,
        subject: str,
        *,
        from_state: str | None = None,
        to_state: str | None = None,
        reason: str = "",
        details: dict[str, Any] | None = None,
    ) -> AuditEventRow:
        return AuditEventRow(
            id=ordered_id("audit"),
            at=self.clock.now(),
            actor=actor,
            action=action,
            subject=subject,
            from_state=from_state,
            to_state=to_state,
            reason=reason,
            details=details or {},
        )

    # -- models -----------------------------------------------------------------------------
    def ensure_model(
        self, name: str, *, task: str, target: str | None, actor: str, description: str = ""
    ) -> ModelRow:
        existing = self.models.get_model(check_name(name, "model name"))
        if existing is not None:
            return existing
        row = ModelRow(
            id=new_id("model"),
            name=name,
            created_at=self.clock.now(),
            description=description,
            task=task,
            target=target,
        )
        return self.models.create_model(row, self._audit(actor, "create_model", name))

    def list_models(self) -> list[ModelRow]:
        return self.models.list_models()

    def get_model(self, name: str) -> ModelRow:
        return self.models.require_model(name)

    # -- versions ---------------------------------------------------------------------------
    def register(
        self,
        name: str,
        model: Any,
        *,
        flavor: str,
        signature: Signature,
        actor: str,
        params: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        dataset_version_id: str | None = None,
        run_id: str | None = None,
        baseline: dict[str, Any] | None = None,
        gate: dict[str, Any] | None = None,
        code_version: dict[str, Any] | None = None,
        tags: dict[str, Any] | None = None,
        validation: dict[str, Any] | None = None,
        description: str = "",
        owner: str = "",
        runtime_metrics: dict[str, Any] | None = None,
        exports: dict[str, bytes | str] | None = None,
    ) -> ModelVersionRow:
        """Store the artifact, verify it, then create the next version (development stage).

        ``exports`` are other formats of the same model (``{"onnx": bytes}``), stored and
        verified like the artifact, or the reason a format is missing (``{"onnx": "why"}``).
        """
        from evergreen.flavors import get_flavor

        model_row = self._model_ids.get(name) or self.models.require_model(name)
        self._model_ids[name] = model_row  # models are never renamed or deleted
        handler = get_flavor(flavor)
        blob = self.artifacts.put_bytes(handler.save(model))
        self.artifacts.get_bytes(blob.sha256)  # read back: a version never points at bad bytes
        kept_exports: dict[str, Any] = {}
        for fmt, export in (exports or {}).items():
            if isinstance(export, str):
                kept_exports[fmt] = {"reason": export}
                continue
            ref = self.artifacts.put_bytes(export)
            self.artifacts.get_bytes(ref.sha256)
            kept_exports[fmt] = {"uri": ref.uri, "sha256": ref.sha256, "size": ref.size}
        now = self.clock.now()

        def build(version: int) -> ModelVersionRow:
            return ModelVersionRow(
                id=new_id("mv"),
                model_id=model_row.id,
                version=version,
                created_at=now,
                stage="development",
                flavor=flavor,
                artifact_uri=blob.uri,
                artifact_sha256=blob.sha256,
                artifact_size=blob.size,
                run_id=run_id,
                dataset_version_id=dataset_version_id,
                params=params or {},
                metrics=metrics or {},
                signature=signature.model_dump(),
                baseline=baseline or {},
                gate=gate or {},
                code_version=code_version or {},
                tags=tags or {},
                validation=validation or {},
                description=description,
                owner=owner or actor,
                runtime_metrics=runtime_metrics or {},
                exports=kept_exports,
            )

        audit = self._audit(
            actor, "register", name, to_state="development", details={"run_id": run_id}
        )
        return self.models.add_version(model_row, build, audit)

    def get_version(self, name: str, version: int) -> ModelVersionRow:
        return self.models.get_version(name, version)

    def versions(self, name: str) -> list[ModelVersionRow]:
        return self.models.versions(name)

    def production(self, name: str) -> ModelVersionRow | None:
        rows = self.models.in_stage(name, "production")
        return rows[0] if rows else None

    def production_versions(self) -> list[tuple[str, ModelVersionRow]]:
        return self.models.production_versions()

    def serving_state(self) -> tuple[tuple[tuple[Any, ...], ...], ...]:
        """A value that changes whenever ``resolve`` of some reference may answer differently
        (a version registered, a stage or an alias moved); cheap to read."""
        return self.models.serving_state()

    def resolve(self, ref: ModelRef | str) -> ModelVersionRow:
        ref = ModelRef.parse(ref) if isinstance(ref, str) else ref
        if ref.version is not None:
            return self.models.get_version(ref.name, ref.version)
        if ref.stage is not None and ref.stage not in STAGES:
            found = self.models.by_alias(ref.name, ref.stage)
            if found is None:
                aliases = self.models.aliases(ref.name)
                known = ", ".join(sorted(aliases)) or "none"
                raise NotFound(
                    f"model {ref.name!r} has no stage or alias {ref.stage!r} (stages: "
                    f"{', '.join(STAGES)}; aliases: {known})"
                )
            return found
        stage = check_stage(ref.stage or "production")
        rows = self.models.in_stage(ref.name, stage)
        if not rows:
            self.models.require_model(ref.name)
            raise NotFound(
                f"model {ref.name!r} has no version in stage {stage!r}; "
                f"promote one with `evergreen models promote {ref.name} VERSION --stage {stage}`"
            )
        return rows[0]

    def promote(
        self,
        name: str,
        version: int,
        stage: str,
        *,
        actor: str,
        reason: str = "",
        force: bool = False,
    ) -> ModelVersionRow:
        """Move a version to a stage; promoting to production archives the previous one.

        Production requires the version's evidence (see :mod:`evergreen.registry.governance`);
        without it the promotion is refused (``PromotionRefused`` naming what is missing)
        unless ``force`` is given with a ``reason``, which the audit log records as an override.
        """
        check_stage(stage)
        details: dict[str, Any] = {}
        if stage == "production":
            evidence = self.evidence(name, version)
            details = {"evidence": evidence.to_dict()}
            if not evidence.complete:
                if not force:
                    raise PromotionRefused(
                        f"cannot promote {name}:{version} to production: "
                        + "; ".join(evidence.missing)
                        + ". Provide the evidence, or override with --force --reason TEXT "
                        "(recorded in the audit log)",
                        evidence.missing,
                    )
                if not reason.strip():
                    raise InvalidInput(
                        "an override of missing evidence needs a reason (--reason TEXT)"
                    )
                details["override"] = True

        def audits(row: ModelVersionRow, displaced: list[ModelVersionRow]) -> list[AuditEventRow]:
            events = [
                self._audit(
                    actor,
                    "archive",
                    f"{name}:{other.version}",
                    from_state="production",
                    to_state="archived",
                    reason=f"replaced by version {version}",
                )
                for other in displaced
            ]
            events.append(
                self._audit(
                    actor,
                    "transition",
                    f"{name}:{version}",
                    from_state=row.stage,
                    to_state=stage,
                    reason=reason,
                    details=details,
                )
            )
            return events

        row, _ = self.models.set_stage(name, version, stage, audits)
        return row

    # -- governance -------------------------------------------------------------------------
    def configure(
        self,
        name: str,
        *,
        actor: str,
        approvers: list[str] | None = None,
        required_approvals: int | None = None,
        owner: str | None = None,
        description: str | None = None,
        reason: str = "",
    ) -> ModelRow:
        """Change who owns a model and who must approve its promotions to production."""
        model = self.models.require_model(name)
        changes: dict[str, Any] = {}
        if approvers is not None:
            changes["approvers"] = sorted({check_name(a, "approver") for a in approvers})
        if required_approvals is not None:
            changes["required_approvals"] = required_approvals
        if owner is not None:
            changes["owner"] = owner
        if description is not None:
            changes["description"] = description
        needed = changes.get("required_approvals", model.required_approvals)
        named = changes.get("approvers", model.approvers or [])
        if needed < 0 or needed > len(named):
            raise InvalidInput(
                f"required approvals must be between 0 and the number of approvers "
                f"({len(named)}), got {needed}"
            )
        before = {k: getattr(model, k) for k in changes}
        audit = self._audit(
            actor, "configure", name, reason=reason, details={"from": before, "to": changes}
        )
        return self.models.update_model(name, changes, audit)

    def evidence(self, name: str, version: int) -> Evidence:
        """What version ``version`` shows for production: gate, validation, approvals."""
        model, row, approvals = self.models.version_evidence(name, version)
        return evidence_of(model, row, approvals)

    def approve(
        self,
        name: str,
        version: int,
        approver: str,
        *,
        decision: str = "approve",
        comment: str = "",
    ) -> ApprovalRow:
        """Record an approver's decision on a version; only the model's approvers may."""
        if decision not in ("approve", "reject"):
            raise InvalidInput(f"decision must be 'approve' or 'reject', got {decision!r}")
        model = self.models.require_model(name)
        row = self.models.get_version(name, version)
        if approver not in (model.approvers or []):
            named = ", ".join(model.approvers or []) or "none"
            raise InvalidState(
                f"{approver!r} is not an approver of {name!r} (approvers: {named}); "
                f"name them with `evergreen models configure {name} --approver NAME`"
            )
        approval = ApprovalRow(
            id=ordered_id("appr"),
            version_id=row.id,
            approver=approver,
            decision=decision,
            at=self.clock.now(),
            comment=comment,
        )
        audit = self._audit(approver, decision, f"{name}:{version}", reason=comment)
        return self.models.add_approval(approval, audit)

    def approvals(self, name: str, version: int) -> list[ApprovalRow]:
        return self.models.approvals(self.models.get_version(name, version).id)

    def set_alias(
        self, name: str, alias: str, version: int, *, actor: str, reason: str = ""
    ) -> ModelVersionRow:
        """Point ``alias`` (``champion``, ``challenger``) at a version; ``NAME@ALIAS`` then
        resolves to it."""
        check_name(alias, "alias")
        if alias in STAGES:
            raise InvalidInput(f"{alias!r} is a stage; choose another alias name")

        def audit(previous: int | None) -> AuditEventRow:
            return self._audit(
                actor,
                "set_alias",
                f"{name}@{alias}",
                from_state=None if previous is None else str(previous),
                to_state=str(version),
                reason=reason,
            )

        self.models.set_alias(name, alias, version, actor, self.clock.now(), audit)
        return self.models.get_version(name, version)

    def remove_alias(self, name: str, alias: str, *, actor: str, reason: str = "") -> None:
        audit = self._audit(actor, "remove_alias", f"{name}@{alias}", reason=reason)
        self.models.remove_alias(name, alias, audit)

    def aliases(self, name: str) -> dict[str, int]:
        return self.models.aliases(name)

    def load(self, name: str, version: int) -> LoadedModel:
        """The version's model, loaded only after its bytes match the registry's checksum."""
        from evergreen.flavors import LoadedModel, Signature, get_flavor

        row = self.models.get_version(name, version)
        data = self.artifacts.get_bytes(row.artifact_sha256)
        if len(data) != row.artifact_size:
            raise IntegrityFailure(f"artifact of {name}:{version} has an unexpected size")
        flavor = get_flavor(row.flavor)
        signature = Signature.model_validate(row.signature)
        return LoadedModel(name, version, flavor, flavor.load(data), signature)

    def export(self, name: str, version: int, fmt: str) -> bytes:
        """The version's model in another format (``onnx``), after its checksum matches."""
        row = self.models.get_version(name, version)
        kept = row.exports.get(fmt)
        if kept is None or "sha256" not in kept:
            why = f": {kept['reason']}" if kept and "reason" in kept else ""
            raise NotFound(f"{name}:{version} has no {fmt} export{why}")
        data = self.artifacts.get_bytes(kept["sha256"])
        if len(data) != kept["size"]:
            raise IntegrityFailure(f"the {fmt} export of {name}:{version} has an unexpected size")
        return data

    def reference_features(self, row: ModelVersionRow) -> pd.DataFrame:
        """The sample of training features stored with a version's baseline (for monitoring)."""
        sha = row.baseline.get("reference_sha256")
        if not sha:
            raise NotFound(
                f"version {row.version} has no reference sample in its baseline; "
                "retrain it with `evergreen run` to record one"
            )
        import pandas as pd

        return pd.read_parquet(io.BytesIO(self.artifacts.get_bytes(sha)))

    def audit_log(self, subject: str | None = None) -> list[AuditEventRow]:
        """Audit events, oldest first: all; a model's (``NAME``: the model, its versions and
        its aliases); or those whose subject starts with ``NAME:``/``NAME@...``."""
        events = self.models.audit_events(subject)
        if subject is None or ":" in subject or "@" in subject:
            return events
        mine = (f"{subject}:", f"{subject}@")
        return [e for e in events if e.subject == subject or e.subject.startswith(mine)]


def version_dict(name: str, row: ModelVersionRow) -> dict[str, Any]:
    """A JSON-ready view of a version, as the CLI and the API show it."""
    return {
        "model": name,
        "version": row.version,
        "id": row.id,
        "stage": row.stage,
        "created_at": _iso(row.created_at),
        "flavor": row.flavor,
        "artifact": {
            "uri": row.artifact_uri,
            "sha256": row.artifact_sha256,
            "size": row.artifact_size,
        },
        "dataset_version": row.dataset_version_id,
        "run_id": row.run_id,
        "params": row.params,
        "metrics": row.metrics,
        "signature": row.signature,
        "gate": row.gate,
        "code_version": row.code_version,
        "tags": row.tags,
        "description": row.description,
        "owner": row.owner,
        "validation": row.validation,
        "runtime_metrics": row.runtime_metrics,
        "exports": row.exports,
    }


def audit_dict(event: AuditEventRow) -> dict[str, Any]:
    """A JSON-ready view of an audit event, as the CLI export and the API show it."""
    return {
        "id": event.id,
        "at": _iso(event.at),
        "actor": event.actor,
        "action": event.action,
        "subject": event.subject,
        "from_state": event.from_state,
        "to_state": event.to_state,
        "reason": event.reason,
        "details": event.details,
    }


def _iso(value: datetime) -> str:
    return value.isoformat()
