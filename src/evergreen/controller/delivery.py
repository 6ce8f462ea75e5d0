"""Automation level 2: deliver a candidate through shadow, a live comparison and a canary with
growing traffic to production, each step gated on the serving experiment's verdict, and roll
back automatically when the candidate regresses.

The candidate's endpoint is the project's model name. Each stage sets the endpoint's policy
(champion and candidate by explicit version), so every gateway follows it within a poll, and the
verdict of a stage counts only requests logged since that policy was set. ``advance`` is called
once per control-loop pass; every step, with the verdict it was decided on, is kept in the
rollout's history.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from evergreen.core.clock import Clock, SystemClock
from evergreen.core.ids import new_id
from evergreen.errors import NotFound, PromotionRefused
from evergreen.pipeline.project import Project
from evergreen.pipeline.rollout import RolloutSpec
from evergreen.registry import Registry
from evergreen.serving.endpoints import Endpoints
from evergreen.serving.policy import EndpointPolicy, Shadow, Variant
from evergreen.store.rollouts import RolloutRepository
from evergreen.store.tables import RolloutRow

Judge = Callable[[str], dict[str, Any]]
CANDIDATE, CHAMPION = "candidate", "champion"


@dataclass(frozen=True)
class Decision:
    action: str  # "wait", "advance" or "rollback"
    reason: str


def decide(spec: RolloutSpec, verdict: dict[str, Any], required: int) -> Decision:
    """What the evidence of one stage says: roll back on a regression, advance once the stage
    has ``required`` candidate requests (and ``spec.min_labels`` compared labels), else wait."""
    candidate = next((v for v in verdict.get("variants", []) if v["name"] == CANDIDATE), None)
    if candidate is None or candidate["requests"] == 0:
        return Decision("wait", "the candidate has answered no request in this stage yet")
    requests = int(candidate["requests"])
    errors = candidate.get("error_rate") or {}
    if errors and errors["ci_low"] > spec.max_error_rate:
        return Decision(
            "rollback",
            f"the candidate fails {errors['value']:.1%} of requests (95% interval from "
            f"{errors['ci_low']:.1%}), above max_error_rate {spec.max_error_rate:.1%}",
        )
    versus = candidate.get("vs_primary")
    if versus and versus["p_value"] < spec.alpha and versus["loss_difference"] > 0:
        return Decision(
            "rollback",
            f"the candidate is significantly worse than the champion on {versus['n']} labelled "
            f"requests (loss difference {versus['loss_difference']:.4g}, "
            f"p={versus['p_value']:.3g} < {spec.alpha})",
        )
    if requests < required:
        return Decision("wait", f"{requests} of {required} candidate requests in this stage")
    if errors and errors["value"] > spec.max_error_rate:
        return Decision(
            "rollback",
            f"the candidate failed {errors['value']:.1%} of {requests} requests, above "
            f"max_error_rate {spec.max_error_rate:.1%}",
        )
    agreement = candidate.get("agreement")
    if spec.min_agreement is not None and agreement is not None and agreement < spec.min_agreement:
        return Decision(
            "rollback",
            f"the candidate agrees with the champion on {agreement:.1%} of requests, below "
            f"min_agreement {spec.min_agreement:.1%}",
        )
    compared = int(versus["n"]) if versus else 0
    if compared < spec.min_labels:
        return Decision(
            "wait", f"{compared} of {spec.min_labels} labelled requests compared in this stage"
        )
    summary = (
        f"p={versus['p_value']:.3g}, loss difference {versus['loss_difference']:.4g}"
        if versus
        else "judged on errors and agreement"
    )
    return Decision(
        "advance", f"{requests} candidate requests, {compared} labelled, not worse ({summary})"
    )


class Delivery:
    def __init__(
        self,
        registry: Registry,
        endpoints: Endpoints,
        rollouts: RolloutRepository,
        judge: Judge,
        clock: Clock | None = None,
        actor: str = "controller",
    ) -> None:
        self.registry, self.endpoints, self.rollouts = registry, endpoints, rollouts
        self.judge = judge
        self.clock = clock or SystemClock()
        self.actor = actor

    def start(
        self,
        project: Project,
        candidate: int,
        *,
        run_id: str | None = None,
        event_id: str | None = None,
    ) -> RolloutRow:
        """Put ``candidate`` in shadow behind the production version (ending any rollout of
        the model still in progress: the newer candidate supersedes it)."""
        name = project.name
        champion = self.registry.production(name)
        if champion is None:
            raise NotFound(f"{name} has no production version to compare a candidate with")
        now = self.clock.now()
        previous = self._stored_policy(name)
        active = self.rollouts.active(name)
        if active is not None:
            self._finish(active, "superseded", f"superseded by version {candidate}", {}, now)
            previous = next(
                (s.get("previous_policy") for s in active.history if "previous_policy" in s),
                None,
            )
        policy = EndpointPolicy(
            variants=(Variant(name=CHAMPION, model=f"{name}:{champion.version}"),),
            shadows=(Shadow(name=CANDIDATE, model=f"{name}:{candidate}"),),
        )
        reason = f"level 2: version {candidate} in shadow behind version {champion.version}"
        self.endpoints.set(name, policy, actor=self.actor, reason=reason)
        row = RolloutRow(
            id=new_id("rollout"),
            model=name,
            candidate_version=candidate,
            champion_version=champion.version,
            stage="shadow",
            traffic=0.0,
            started_at=now,
            updated_at=now,
            finished_at=None,
            run_id=run_id,
            event_id=event_id,
            reason=reason,
            history=[
                {
                    "at": now.isoformat(),
                    "stage": "shadow",
                    "traffic": 0.0,
                    "reason": reason,
                    "previous_policy": previous,
                }
            ],
        )
        return self.rollouts.add(row)

    def advance(self, project: Project) -> RolloutRow | None:
        """Take the next step of the model's rollout if its evidence allows; None when none is
        in progress."""
        row = self.rollouts.active(project.name)
        if row is None:
            return None
        spec, now = project.rollout, self.clock.now()
        if now - row.started_at > spec.timeout:
            return self._finish(
                row, "abandoned", f"not finished within {spec.timeout}; champion kept", {}, now
            )
        verdict = self.judge(project.name)
        steps = spec.canary_steps
        required = spec.shadow_requests if row.stage == "shadow" else spec.step_requests
        decision = decide(spec, verdict, required)
        evidence = {"summary": verdict.get("summary"), "variants": verdict.get("variants")}
        if decision.action == "wait":
            return row
        if decision.action == "rollback":
            return self._finish(row, "rolled_back", decision.reason, evidence, now)
        position = (
            min(range(len(steps)), key=lambda i: abs(steps[i] - row.traffic)) + 1
            if row.stage == "canary"
            else 0
        )
        if position < len(steps):
            return self._canary(row, steps[position], decision.reason, evidence, now)
        return self._promote(row, decision.reason, evidence, now)

    # -- steps ---------------------------------------------------------------------------
    def _canary(
        self, row: RolloutRow, share: float, why: str, evidence: dict[str, Any], now: datetime
    ) -> RolloutRow:
        name = row.model
        policy = EndpointPolicy(
            variants=(
                Variant(name=CHAMPION, model=f"{name}:{row.champion_version}", weight=1 - share),
                Variant(name=CANDIDATE, model=f"{name}:{row.candidate_version}", weight=share),
            ),
            sticky=None,
        )
        reason = f"level 2: canary, version {row.candidate_version} takes {share:.0%}: {why}"
        self.endpoints.set(name, policy, actor=self.actor, reason=reason)
        return self.rollouts.move(
            row.id,
            stage="canary",
            traffic=share,
            at=now,
            step={"at": now.isoformat(), "stage": "canary", "traffic": share, "reason": why}
            | {"evidence": evidence},
            reason=reason,
        )

    def _promote(
        self, row: RolloutRow, why: str, evidence: dict[str, Any], now: datetime
    ) -> RolloutRow:
        try:
            self.registry.promote(
                row.model,
                row.candidate_version,
                "production",
                actor=self.actor,
                reason=f"level 2 rollout {row.id}: {why}",
            )
        except PromotionRefused as refused:
            return self._finish(
                row, "refused", f"promotion refused: {refused}", evidence, now, archive=False
            )
        self._restore(row)
        return self.rollouts.move(
            row.id,
            stage="promoted",
            traffic=1.0,
            at=now,
            step={"at": now.isoformat(), "stage": "promoted", "traffic": 1.0, "reason": why}
            | {"evidence": evidence},
            finished=True,
            reason=f"version {row.candidate_version} promoted: {why}",
        )

    def _finish(
        self,
        row: RolloutRow,
        stage: str,
        why: str,
        evidence: dict[str, Any],
        now: datetime,
        *,
        archive: bool = True,
    ) -> RolloutRow:
        """End a rollout without promotion: the champion takes all traffic again."""
        self._restore(row)
        if archive:
            self.registry.promote(
                row.model,
                row.candidate_version,
                "archived",
                actor=self.actor,
                reason=f"level 2 rollout {row.id} {stage.replace('_', ' ')}: {why}",
            )
        return self.rollouts.move(
            row.id,
            stage=stage,
            traffic=0.0,
            at=now,
            step={"at": now.isoformat(), "stage": stage, "traffic": 0.0, "reason": why}
            | {"evidence": evidence},
            finished=True,
            reason=why,
        )

    def _restore(self, row: RolloutRow) -> None:
        """Give the endpoint back the policy it had before the rollout (none: the model's
        production version, under its own name)."""
        previous = next((s["previous_policy"] for s in row.history if "previous_policy" in s), None)
        reason = f"level 2 rollout {row.id} ended"
        if previous is not None:
            self.endpoints.set(row.model, previous, actor=self.actor, reason=reason)
        elif self._stored_policy(row.model) is not None:
            self.endpoints.delete(row.model, actor=self.actor, reason=reason)

    def _stored_policy(self, name: str) -> dict[str, Any] | None:
        try:
            return self.endpoints.get(name).policy.to_json()
        except NotFound:
            return None
