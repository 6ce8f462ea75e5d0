"""Governance: promotion needs evidence (gate, validation, approvals), overrides are recorded,
aliases move with an audit trail, and versions cannot be changed once registered."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from evergreen.errors import InvalidInput, InvalidState, NotFound, PromotionRefused
from evergreen.registry import Registry
from evergreen.store.database import Database
from evergreen.store.tables import ModelVersionRow
from registry.support import EVIDENCE, stages


def test_production_without_a_gate_verdict_is_refused_and_changes_nothing(
    registry: Registry, register: Callable[..., Any]
) -> None:
    register()  # v1 with evidence, in production
    registry.promote("bikes", 1, "production", actor="alice")
    register(gate={})
    with pytest.raises(PromotionRefused, match=r"cannot promote bikes:2 .*no passing gate verdict"):
        registry.promote("bikes", 2, "production", actor="alice")
    assert stages(registry) == {1: "production", 2: "development"}
    assert [e.action for e in registry.audit_log("bikes:2")] == ["register"]


def test_failed_gate_or_validation_is_named(
    registry: Registry, register: Callable[..., Any]
) -> None:
    register(gate={"passed": False, "reason": "rmse 80 > production 70"})
    register(validation={"passed": False, "errors": 2})
    with pytest.raises(PromotionRefused, match="the gate failed: rmse 80 > production 70"):
        registry.promote("bikes", 1, "production", actor="alice")
    with pytest.raises(PromotionRefused, match="its training data failed validation"):
        registry.promote("bikes", 2, "production", actor="alice")
    registry.promote("bikes", 2, "staging", actor="alice")  # other stages need no evidence
    assert stages(registry) == {1: "development", 2: "staging"}


def test_an_override_needs_a_reason_and_is_recorded(
    registry: Registry, register: Callable[..., Any]
) -> None:
    register(gate={})
    with pytest.raises(InvalidInput, match="needs a reason"):
        registry.promote("bikes", 1, "production", actor="ops", force=True)
    assert stages(registry) == {1: "development"}

    registry.promote("bikes", 1, "production", actor="ops", force=True, reason="hotfix")
    assert stages(registry) == {1: "production"}
    transition = registry.audit_log("bikes:1")[-1]
    assert (transition.action, transition.actor, transition.reason) == (
        "transition",
        "ops",
        "hotfix",
    )
    assert transition.details["override"] is True
    assert transition.details["evidence"]["missing"] == ["no passing gate verdict"]


def test_named_approvers_must_approve_and_a_rejection_blocks(
    registry: Registry, register: Callable[..., Any]
) -> None:
    registry.configure("bikes", approvers=["alice", "bob"], required_approvals=2, actor="admin")
    register()
    with pytest.raises(PromotionRefused, match=r"needs 2 more approval\(s\) from alice, bob"):
        registry.promote("bikes", 1, "production", actor="pipeline")
    with pytest.raises(InvalidState, match="'mallory' is not an approver of 'bikes'"):
        registry.approve("bikes", 1, "mallory")

    registry.approve("bikes", 1, "alice", comment="metrics look right")
    registry.approve("bikes", 1, "bob", decision="reject", comment="wait for the holiday data")
    with pytest.raises(PromotionRefused, match="rejected by bob"):
        registry.promote("bikes", 1, "production", actor="pipeline")

    registry.approve("bikes", 1, "bob", comment="holiday data is in")  # the newest decision counts
    evidence = registry.evidence("bikes", 1)
    assert (evidence.approvals, evidence.rejections, evidence.complete) == (
        ["alice", "bob"],
        [],
        True,
    )
    registry.promote("bikes", 1, "production", actor="pipeline")
    assert stages(registry) == {1: "production"}
    actions = [(e.actor, e.action) for e in registry.audit_log("bikes:1")]
    assert actions == [
        ("alice", "register"),
        ("alice", "approve"),
        ("bob", "reject"),
        ("bob", "approve"),
        ("pipeline", "transition"),
    ]


def test_configure_checks_the_approval_count(registry: Registry) -> None:
    with pytest.raises(InvalidInput, match="between 0 and the number of approvers \\(1\\)"):
        registry.configure("bikes", approvers=["alice"], required_approvals=2, actor="admin")
    model = registry.configure(
        "bikes", approvers=["bob", "alice"], owner="team-mobility", actor="admin"
    )
    assert (model.approvers, model.owner) == (["alice", "bob"], "team-mobility")
    configure = registry.audit_log("bikes")[-1]
    assert configure.action == "configure" and configure.details["to"]["owner"] == "team-mobility"


def test_aliases_resolve_move_and_leave_an_audit_trail(
    registry: Registry, register: Callable[..., Any]
) -> None:
    register()
    register()
    registry.set_alias("bikes", "champion", 1, actor="alice")
    registry.set_alias("bikes", "challenger", 2, actor="alice")
    assert registry.resolve("bikes@champion").version == 1
    assert registry.aliases("bikes") == {"challenger": 2, "champion": 1}

    registry.set_alias("bikes", "champion", 2, actor="bob", reason="won the A/B test")
    assert registry.resolve("bikes@champion").version == 2
    moved = registry.audit_log("bikes@champion")[-1]
    assert (moved.from_state, moved.to_state, moved.reason) == ("1", "2", "won the A/B test")

    registry.remove_alias("bikes", "challenger", actor="bob")
    with pytest.raises(NotFound, match="no stage or alias 'challenger'"):
        registry.resolve("bikes@challenger")
    with pytest.raises(InvalidInput, match="'production' is a stage"):
        registry.set_alias("bikes", "production", 1, actor="bob")
    with pytest.raises(NotFound):
        registry.remove_alias("bikes", "challenger", actor="bob")


def test_versions_are_immutable_once_registered(
    registry: Registry, register: Callable[..., Any], db: Database
) -> None:
    row = register()
    with db.session() as s:
        stored = s.get(ModelVersionRow, row.id)
        assert stored is not None
        stored.metrics = {"rmse": 0.0}
        with pytest.raises(
            InvalidState, match=r"immutable once registered; cannot change \['metrics'\]"
        ):
            s.flush()
        s.rollback()
    with db.session() as s:
        metrics = s.scalar(sa.select(ModelVersionRow.metrics).where(ModelVersionRow.id == row.id))
    assert metrics == row.metrics
    registry.promote("bikes", 1, "staging", actor="alice")  # the stage still moves
    assert stages(registry) == {1: "staging"}


def test_evidence_travels_in_the_version_view(
    registry: Registry, register: Callable[..., Any]
) -> None:
    from evergreen.registry import version_dict

    row = register(description="weekly retrain", owner="team-mobility")
    view = version_dict("bikes", row)
    assert view["validation"] == EVIDENCE["validation"]
    assert (view["description"], view["owner"]) == ("weekly retrain", "team-mobility")
