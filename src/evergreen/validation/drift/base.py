"""What every drift test shares: the ``DriftTest`` interface and the results it produces.

A drift test compares the non-null values of one column in a reference sample (usually the
training data) with a current sample (a recent batch) and returns a ``ColumnDrift``. Each test
has a stable ``name``, stored with its results, so a stored report still reads after a refactor.

Hypothesis tests (KS, chi-square, z) flag a column when ``p_value < threshold``; a calibrated
spec may still keep such a column undrifted (a multiple-testing correction, an effect-size floor
or persistence; ``note`` says which), but a column never drifts without a significant p-value.
Distance tests (Wasserstein, Jensen-Shannon, PSI) set ``p_value`` to ``None`` and flag a column
when ``statistic >= threshold``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Self

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

from evergreen.errors import InvalidInput
from evergreen.validation.drift.counts import CategoryCounts
from evergreen.validation.parsing import parse_model


class ColumnDrift(BaseModel):
    """The outcome of one drift test on one column.

    A skipped column (no values to compare) has no ``statistic`` or ``p_value``, is never
    ``drifted``, and says why in ``note``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    column: str
    test: str
    statistic: float | None
    p_value: float | None
    threshold: float
    drifted: bool
    note: str | None = None
    p_adjusted: float | None = None
    """The p-value after the multiple-testing correction across columns, when one was applied."""
    effect: float | None = None
    """The effect size weighed against the floor of a calibrated spec, when one was set."""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.p_value is not None and self.drifted and not self.p_value < self.threshold:
            raise ValueError(
                f"column {self.column!r}: drifted must be p_value < threshold "
                f"({self.p_value:g} < {self.threshold:g})"
            )
        if self.skipped and self.drifted:
            raise ValueError(f"column {self.column!r}: a skipped column cannot have drifted")
        return self

    @property
    def skipped(self) -> bool:
        """Whether the column could not be tested (see ``note``)."""
        return self.statistic is None

    @classmethod
    def from_p_value(
        cls, column: str, test: str, statistic: float, p_value: float, threshold: float
    ) -> ColumnDrift:
        """A tested column; drifted iff ``p_value < threshold``."""
        return cls(
            column=column,
            test=test,
            statistic=statistic,
            p_value=p_value,
            threshold=threshold,
            drifted=p_value < threshold,
        )

    @classmethod
    def from_distance(
        cls, column: str, test: str, statistic: float, threshold: float
    ) -> ColumnDrift:
        """A column tested by a distance; drifted iff ``statistic >= threshold``."""
        return cls(
            column=column,
            test=test,
            statistic=statistic,
            p_value=None,
            threshold=threshold,
            drifted=statistic >= threshold,
        )

    @classmethod
    def skip(cls, column: str, test: str, threshold: float, note: str) -> ColumnDrift:
        """A column that could not be tested, and why."""
        return cls(
            column=column,
            test=test,
            statistic=None,
            p_value=None,
            threshold=threshold,
            drifted=False,
            note=note,
        )


class DriftReport(BaseModel):
    """Drift over a set of columns.

    ``drift_share`` is the share of *tested* columns that drifted (skipped columns count in
    neither part; it is ``0.0`` when nothing could be tested), and the data set as a whole has
    drifted when that share reaches ``share_threshold``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    columns: list[ColumnDrift]
    share_threshold: float = Field(gt=0.0, le=1.0)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def drift_share(self) -> float:
        tested = [column for column in self.columns if not column.skipped]
        if not tested:
            return 0.0
        return sum(column.drifted for column in tested) / len(tested)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def dataset_drift(self) -> bool:
        return any(not c.skipped for c in self.columns) and self.drift_share >= self.share_threshold

    @property
    def drifted_columns(self) -> list[str]:
        """Names of the columns that drifted, in report order."""
        return [column.column for column in self.columns if column.drifted]

    @property
    def tested_columns(self) -> list[str]:
        """Names of the columns that were tested (not skipped), in report order."""
        return [column.column for column in self.columns if not column.skipped]

    @property
    def skipped_columns(self) -> list[str]:
        """Names of the columns that could not be tested, in report order."""
        return [column.column for column in self.columns if column.skipped]

    def column(self, name: str) -> ColumnDrift:
        """The result for column ``name``; raise ``InvalidInput`` if it was not tested."""
        for column in self.columns:
            if column.column == name:
                return column
        raise InvalidInput(
            f"the drift report has no column {name!r}; it covers {[c.column for c in self.columns]}"
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict, including the derived ``drift_share`` and ``dataset_drift``."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "<drift report>") -> DriftReport:
        """Read a report written by ``to_dict`` (the derived fields are recomputed)."""
        inputs = {k: v for k, v in data.items() if k not in ("drift_share", "dataset_drift")}
        return parse_model(cls, inputs, source=source, what="drift report")


class DriftTest(ABC):
    """A two-sample test for one column. Subclasses set ``name`` and implement ``test``."""

    name: ClassVar[str]
    threshold: float

    @abstractmethod
    def test(self, reference: np.ndarray, current: np.ndarray, *, column: str = "") -> ColumnDrift:
        """Compare the non-null ``reference`` and ``current`` values of ``column``.

        Raises ``InvalidInput`` when either side has no values.
        """

    def test_counts(self, counts: CategoryCounts, *, column: str = "") -> ColumnDrift:
        """Compare the category ``counts`` of ``column``, counted once by ``detect_drift``.

        Tests of categories override this to work on the counts directly; this fallback
        expands them back into values for ``test``.
        """
        return self.test(
            np.repeat(counts.categories, counts.reference),
            np.repeat(counts.categories, counts.current),
            column=column,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(threshold={self.threshold!r})"


def check_p_threshold(threshold: float) -> float:
    """``threshold`` if it is a usable significance level, else ``InvalidInput``."""
    if not 0.0 < threshold < 1.0:
        raise InvalidInput(f"a p-value threshold must be between 0 and 1, got {threshold!r}")
    return threshold


def check_distance_threshold(threshold: float) -> float:
    """``threshold`` if it is a usable distance threshold (positive and finite), else
    ``InvalidInput``."""
    if not 0.0 < threshold < float("inf"):
        raise InvalidInput(f"a distance threshold must be positive and finite, got {threshold!r}")
    return threshold


def float_values(test: str, column: str, values: np.ndarray) -> np.ndarray:
    """``values`` as float64 without NaNs; ``InvalidInput`` if they are not numbers."""
    try:
        floats = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInput(
            f"{test} test on column {column or '<unnamed>'!r} needs numeric values, found "
            f"{np.asarray(values).dtype}; use the chi-square test for categorical columns"
        ) from None
    missing = np.isnan(floats)
    return floats[~missing] if missing.any() else floats  # no copy when nothing is dropped


def require_values(test: str, column: str, reference: np.ndarray, current: np.ndarray) -> None:
    """Raise ``InvalidInput`` naming the empty side when there is nothing to compare."""
    for side, values in (("reference", reference), ("current", current)):
        if values.size == 0:
            raise InvalidInput(
                f"{test} test on column {column or '<unnamed>'!r}: the {side} sample has no "
                "non-null values; drop the column or pass more data"
            )
