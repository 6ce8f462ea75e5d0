"""What a version must show before it may serve production, and whether it shows it.

Promotion to production needs the evidence: a passing gate verdict (the candidate against
production on the same holdout), a passing data validation of its training data, and, when the
model names approvers, approvals from enough of them (the newest decision of each approver
counts; one rejection blocks). An operator may override missing evidence with a reason, which
the audit log records as an override.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evergreen.store.tables import ApprovalRow, ModelRow, ModelVersionRow


@dataclass(frozen=True)
class Evidence:
    gate_passed: bool
    validation_passed: bool
    approvals: list[str] = field(default_factory=list)  # approvers whose newest decision approves
    rejections: list[str] = field(default_factory=list)
    approvals_required: int = 0
    approvers: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.missing

    def to_dict(self) -> dict[str, Any]:
        return {
            "gate_passed": self.gate_passed,
            "validation_passed": self.validation_passed,
            "approvals": self.approvals,
            "rejections": self.rejections,
            "approvals_required": self.approvals_required,
            "approvers": self.approvers,
            "missing": self.missing,
        }


def evidence_of(model: ModelRow, row: ModelVersionRow, decisions: list[ApprovalRow]) -> Evidence:
    """The evidence version ``row`` of ``model`` has for production (``decisions`` oldest first)."""
    approvers = [str(a) for a in model.approvers or []]
    newest: dict[str, str] = {}
    for decision in decisions:
        if decision.approver in approvers:
            newest[decision.approver] = decision.decision
    approved = sorted(a for a, d in newest.items() if d == "approve")
    rejected = sorted(a for a, d in newest.items() if d == "reject")
    gate_passed = bool(row.gate.get("passed"))
    validation_passed = bool(row.validation.get("passed"))
    missing = []
    if not gate_passed:
        missing.append(
            "no passing gate verdict"
            if not row.gate
            else f"the gate failed: {row.gate.get('reason', '')}"
        )
    if not validation_passed:
        missing.append(
            "no passing data validation of its training data"
            if not row.validation
            else "its training data failed validation"
        )
    if rejected:
        missing.append(f"rejected by {', '.join(rejected)}")
    short = model.required_approvals - len(approved)
    if short > 0:
        waiting = [a for a in approvers if a not in newest]
        missing.append(
            f"needs {short} more approval(s) from {', '.join(waiting) or 'its approvers'}"
        )
    return Evidence(
        gate_passed,
        validation_passed,
        approved,
        rejected,
        model.required_approvals,
        approvers,
        missing,
    )
