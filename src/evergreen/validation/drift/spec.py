"""``DriftSpec``: how drift is tested and when an alarm is raised, stored with the run.

The defaults make a *calibrated* alarm: on two samples from one distribution the data set is
flagged at most about ``p_threshold`` of the time, whatever the sample size (the calibration
test in ``tests/validation/test_drift_calibration.py`` measures it from 100 to 1,000,000 rows).
Three parts get there:

- ``correction="bh"``: Benjamini-Hochberg across the columns with a p-value, so testing many
  columns does not multiply false alarms;
- ``min_effect``: a column with a significant p-value counts as drifted only if its effect size
  also reaches a floor, so a huge sample does not flag a negligible shift. The effect follows
  the test: the normed Wasserstein distance for ``ks`` (floor 0.1, the distance Evidently itself
  calls drift in large samples), the Jensen-Shannon distance for ``chi2`` (0.1, likewise) and
  ``|p_ref - p_cur|`` for ``z`` (0.05, five percentage points). Distance tests are their own
  effect sizes and ignore the floor. Set ``min_effect=0`` to turn it off;
- ``persistence``: a column (and so the data set) drifts only after ``k`` consecutive drifted
  windows. ``detect_drift`` sees one window; a :class:`DriftTracker` applies it across windows.

``DriftSpec(correction="none", min_effect=0)`` reproduces Evidently's DataDriftPreset decisions.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from evergreen.validation.drift.correction import Correction
from evergreen.validation.drift.selection import Method

EffectKind = Literal["numeric", "categorical", "binary"]
Floor = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]

DEFAULT_MIN_EFFECT: dict[EffectKind, float] = {"numeric": 0.1, "categorical": 0.1, "binary": 0.05}

EFFECT_OF_TEST: dict[str, EffectKind] = {"ks": "numeric", "chi2": "categorical", "z": "binary"}


class ColumnDriftSpec(BaseModel):
    """The test for one column: a method (``auto`` or a test name) and an optional threshold
    (a significance level for ``ks``/``chi2``/``z``, a distance for the others)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Method = "auto"
    threshold: float | None = Field(default=None, gt=0.0)


class DriftSpec(BaseModel):
    """How drift is tested across columns and when the data set counts as drifted."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["drift-spec/v1"] = "drift-spec/v1"
    method: Method = "auto"
    p_threshold: float = Field(default=0.05, gt=0.0, lt=1.0)
    by_column: dict[str, ColumnDriftSpec] = Field(default_factory=dict)
    share_threshold: float = Field(default=0.5, gt=0.0, le=1.0)
    correction: Correction = "bh"
    min_effect: Floor | dict[EffectKind, Floor] = Field(
        default_factory=lambda: dict(DEFAULT_MIN_EFFECT)
    )
    persistence: int = Field(default=1, ge=1)

    def column(self, name: str) -> ColumnDriftSpec:
        """The spec of column ``name``: its own entry, else the default method."""
        return self.by_column.get(name) or ColumnDriftSpec(method=self.method)

    def effect_floor(self, test: str) -> float:
        """The effect-size floor for a hypothesis ``test`` (0 for distance tests)."""
        kind = EFFECT_OF_TEST.get(test)
        if kind is None:
            return 0.0
        if isinstance(self.min_effect, dict):
            return self.min_effect.get(kind, 0.0)
        return self.min_effect
