"""``Anomaly``: one problem found in a batch (the checks are in :mod:`.anomalies`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from evergreen.validation.schema import Severity


class Anomaly(BaseModel):
    """One problem found in a batch.

    ``observed`` is the value the check measured (a share, a count, a p-value, the kind
    found), ``message`` says it all for people and names the column.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    check: str
    column: str | None
    severity: Severity
    message: str
    observed: str | float | int | None = None
    details: dict[str, float | str | list[str]] = {}


def percent(share: float) -> str:
    """``12.0%``; a share that would round to 0.0% or 100.0% says so honestly."""
    if 0 < share < 0.0005:
        return "<0.1%"
    if 0.9995 <= share < 1:
        return ">99.9%"
    return f"{share:.1%}"
