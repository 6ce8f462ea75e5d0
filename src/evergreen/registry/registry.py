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
from evergreen.errors import IntegrityFailure, InvalidInput, NotFound
from evergreen.store.artifacts import ArtifactStore
from evergreen.store.models import ModelRepository
from evergreen.store.tables import AuditEventRow, ModelRow, ModelVersionRow

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
    ) -> ModelVersionRow:
        """Store the artifact, verify it, then create the next version (development stage)."""
        from evergreen.flavors import get_flavor

        owner = self.models.require_model(name)
        handler = get_flavor(flavor)
        blob = self.artifacts.put_bytes(handler.save(model))
        self.artifacts.get_bytes(blob.sha256)  # read back: a version never points at bad bytes
        now = self.clock.now()

        def build(version: int) -> ModelVersionRow:
            return ModelVersionRow(
                id=new_id("mv"),
                model_id=owner.id,
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
            )

        audit = self._audit(
            actor, "register", name, to_state="development", details={"run_id": run_id}
        )
        return self.models.add_version(owner, build, audit)

    def get_version(self, name: str, version: int) -> ModelVersionRow:
        return self.models.get_version(name, version)

    def versions(self, name: str) -> list[ModelVersionRow]:
        return self.models.versions(name)

    def production(self, name: str) -> ModelVersionRow | None:
        rows = self.models.in_stage(name, "production")
        return rows[0] if rows else None

    def production_versions(self) -> list[tuple[str, ModelVersionRow]]:
        return self.models.production_versions()

    def resolve(self, ref: ModelRef | str) -> ModelVersionRow:
        ref = ModelRef.parse(ref) if isinstance(ref, str) else ref
        if ref.version is not None:
            return self.models.get_version(ref.name, ref.version)
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
        self, name: str, version: int, stage: str, *, actor: str, reason: str = ""
    ) -> ModelVersionRow:
        """Move a version to a stage; promoting to production archives the previous one."""
        check_stage(stage)

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
                )
            )
            return events

        row, _ = self.models.set_stage(name, version, stage, audits)
        return row

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

    def audit_log(self, name: str | None = None) -> list[AuditEventRow]:
        return self.models.audit_events(name)


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
    }


def _iso(value: datetime) -> str:
    return value.isoformat()
