"""The schema a batch of data is checked against: one ``ColumnSchema`` per expected column.

A schema is usually inferred from the statistics of a reference data set
(:func:`infer_schema`), written to YAML for people to review and tighten, and read back with
:meth:`Schema.from_yaml`, which rejects unknown keys so a typo (``nulable: true``) cannot
silently loosen a check::

    columns:
      - name: temp
        kind: numeric
        dtype: float64
        nullable: false
        min: 0.02
        max: 0.86
      - name: weather
        kind: categorical
        nullable: true
        max_null_ratio: 0.05        # more nulls than this is a `null_ratio` anomaly
        categories: [clear, mist, rain]
        max_unseen_ratio: 0.01      # tolerate 1% values outside the categories
        checks: {unseen_categories: error}   # this column's severity overrides
    checks: {out_of_range: error, extra_column: "off"}   # every column's overrides
    dataset:
      max_duplicate_ratio: 0.01
      label:
        column: weather
        categories: {clear: 0.6, mist: 0.3, rain: 0.1}   # expected shares

Every check has a default severity (:data:`DEFAULT_SEVERITY`); ``checks`` at the top level
overrides it for every column and ``checks`` on a column for that column only. ``off``
disables a check. An ``error`` anomaly fails the validation (and halts a pipeline); a
``warning`` is reported and recorded.
"""

from __future__ import annotations

import difflib
import itertools
from collections import Counter
from collections.abc import Mapping
from typing import Any, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from evergreen.errors import NotFound
from evergreen.validation.kinds import Kind
from evergreen.validation.parsing import load_yaml, parse_model
from evergreen.validation.statistics import QUANTILES, ColumnStatistics, DatasetStatistics

MAX_CATEGORIES = 50
"""Columns with more distinct values than this get no category list when inferred."""

Severity = Literal["error", "warning"]
SeveritySetting = Literal["error", "warning", "off"]

DEFAULT_SEVERITY: dict[str, Severity] = {
    "empty_batch": "error",
    "missing_column": "error",
    "extra_column": "warning",
    "kind_mismatch": "error",
    "unexpected_nulls": "error",
    "null_ratio": "warning",
    "out_of_range": "warning",
    "unseen_categories": "warning",
    "constant_column": "warning",
    "duplicate_rows": "warning",
    "missing_label": "error",
    "label_shift": "warning",
}
"""Every check by its stable name, with the severity it has unless the schema overrides it."""


def _ratio() -> Any:
    """A field for an optional share in [0, 1]."""
    return Field(default=None, ge=0.0, le=1.0)


def _known_checks(value: object) -> object:
    if isinstance(value, Mapping):
        for key in value:
            if key not in DEFAULT_SEVERITY:
                close = difflib.get_close_matches(str(key), list(DEFAULT_SEVERITY), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(
                    f"unknown check {key!r}{hint}; the checks are {', '.join(DEFAULT_SEVERITY)}"
                )
    return value


class ColumnSchema(BaseModel):
    """What one column may hold.

    ``dtype`` records the pandas dtype the schema was inferred from; it is informational, since
    checks compare kinds (an int column arriving as float is fine). ``min``/``max`` apply to
    numeric columns and ``categories`` (compared as strings) to categorical and boolean ones;
    ``None`` means unchecked.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    kind: Kind
    dtype: str | None = None
    nullable: bool = False
    required: bool = True
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = None
    max_null_ratio: float | None = _ratio()
    max_unseen_ratio: float | None = _ratio()
    min_distinct: int | None = Field(default=None, ge=1)
    checks: dict[str, SeveritySetting] | None = None

    checks_known = field_validator("checks", mode="before")(_known_checks)

    @field_validator("categories", mode="before")
    @classmethod
    def _categories_as_strings(cls, value: object) -> object:
        # YAML reads `[1, 2]` as numbers; categories are compared as strings.
        if isinstance(value, list):
            return [str(item) if isinstance(item, int | float) else item for item in value]
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        bounded = self.min is not None or self.max is not None
        if bounded and self.kind != "numeric":
            raise ValueError(
                f"column {self.name!r} has kind {self.kind!r}; min/max apply to numeric "
                "columns only, so remove them or change the kind"
            )
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(
                f"column {self.name!r} has min {self.min:g} greater than max {self.max:g}"
            )
        if self.categories is not None:
            if self.kind not in ("categorical", "boolean"):
                raise ValueError(
                    f"column {self.name!r} has kind {self.kind!r}; categories apply to "
                    "categorical and boolean columns only"
                )
            repeated = sorted(v for v, n in Counter(self.categories).items() if n > 1)
            if repeated:
                raise ValueError(f"column {self.name!r} lists categories {repeated} twice")
        return self


class LabelSchema(BaseModel):
    """The label column and its expected distribution: category shares (categorical and boolean
    labels) or shares over histogram bins (numeric labels). ``label_shift`` fires when a
    chi-square goodness-of-fit test of the batch against it gives ``p < p_threshold``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    column: str
    categories: dict[str, float] | None = None
    edges: list[float] | None = None
    shares: list[float] | None = None
    p_threshold: float = Field(default=0.01, gt=0.0, lt=1.0)

    @field_validator("categories", mode="before")
    @classmethod
    def _keys_as_strings(cls, value: object) -> object:
        if isinstance(value, Mapping):
            return {str(key): share for key, share in value.items()}
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.edges is None) != (self.shares is None):
            raise ValueError(f"label {self.column!r}: give both edges and shares, or neither")
        if self.edges is not None and self.shares is not None:
            if len(self.edges) != len(self.shares) + 1:
                raise ValueError(
                    f"label {self.column!r}: {len(self.edges)} edges need "
                    f"{len(self.edges) - 1} shares, found {len(self.shares)}"
                )
            if self.edges != sorted(self.edges):
                raise ValueError(f"label {self.column!r}: edges must be ascending")
        if self.categories is not None and self.edges is not None:
            raise ValueError(f"label {self.column!r}: give categories or edges, not both")
        return self


class DatasetSettings(BaseModel):
    """Checks of the batch as a whole."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_duplicate_ratio: float | None = _ratio()
    label: LabelSchema | None = None


class Schema(BaseModel):
    """The expected columns of a data set, in order, and the data set's own settings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    columns: list[ColumnSchema]
    checks: dict[str, SeveritySetting] | None = None
    dataset: DatasetSettings | None = None

    checks_known = field_validator("checks", mode="before")(_known_checks)

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        repeated = sorted(name for name, n in Counter(self.names).items() if n > 1)
        if repeated:
            raise ValueError(f"columns {repeated} are listed more than once")
        return self

    @property
    def names(self) -> list[str]:
        """The column names, in schema order."""
        return [column.name for column in self.columns]

    def column(self, name: str) -> ColumnSchema:
        """The schema of column ``name``; raise ``NotFound`` if the schema has no such column."""
        for column in self.columns:
            if column.name == name:
                return column
        raise NotFound(f"the schema has no column {name!r}; its columns are {self.names}")

    def severity(self, check: str, column: str | None = None) -> SeveritySetting:
        """The severity of ``check`` on ``column``: the column's override, else the schema's,
        else the default."""
        if column is not None:
            spec = next((c for c in self.columns if c.name == column), None)
            if spec is not None and spec.checks and check in spec.checks:
                return spec.checks[check]
        if self.checks and check in self.checks:
            return self.checks[check]
        return DEFAULT_SEVERITY[check]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict without unset (``None``) fields; ``from_dict`` reads it back."""
        return self.model_dump(mode="json", exclude_none=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "<schema>") -> Schema:
        """Read a schema dict; raise ``InvalidInput`` naming ``source`` and the bad key."""
        return parse_model(cls, data, source=source, what="schema")

    def to_yaml(self) -> str:
        """The schema as YAML, keys in field order; ``from_yaml`` reads it back.

        Non-ASCII characters are escaped: PyYAML's ``allow_unicode`` output does not always
        read back (a name containing U+0085 becomes a line break).
        """
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_yaml(cls, text: str, source: str = "<schema>") -> Schema:
        """Read a YAML schema; raise ``InvalidInput`` naming ``source`` and the bad key."""
        return parse_model(cls, load_yaml(text, source=source), source=source, what="schema")


def infer_schema(
    stats: DatasetStatistics,
    *,
    label: str | None = None,
    max_duplicate_ratio: float | None = None,
) -> Schema:
    """The tightest schema the statistics allow.

    A column is nullable iff nulls were seen, a numeric range is the observed min/max, and the
    categories are the observed values when there are at most ``MAX_CATEGORIES`` of them (and
    at least one: an all-null column teaches nothing about its categories). With ``label``, the
    label's distribution is recorded for the ``label_shift`` check.

    ``min_distinct`` (the constant-column check) and ``max_null_ratio`` are left for people to
    set: batches sliced by time are often constant in some columns (the season, the year), so
    inferring them would raise warnings on every healthy batch.

    Raises ``NotFound`` when ``label`` is not a column of the statistics.
    """
    dataset = None
    if label is not None or max_duplicate_ratio is not None:
        dataset = DatasetSettings(
            max_duplicate_ratio=max_duplicate_ratio,
            label=None if label is None else _infer_label(stats, label),
        )
    return Schema(
        columns=[_infer_column(column) for column in stats.columns.values()], dataset=dataset
    )


def _infer_label(stats: DatasetStatistics, label: str) -> LabelSchema:
    column = stats.columns.get(label)
    if column is None:
        raise NotFound(
            f"no label column {label!r} in the data; its columns are {list(stats.columns)}"
        )
    if column.top_values and column.distinct <= MAX_CATEGORIES:
        total = sum(column.top_values.values())
        return LabelSchema(
            column=label, categories={k: n / total for k, n in sorted(column.top_values.items())}
        )
    if column.quantiles and column.min is not None and column.max is not None:
        # Bins between the quantiles: each holds a known share, even in the tails.
        points = [(column.min, 0.0)]
        points += [(column.quantiles[key], q) for key, q in QUANTILES.items()]
        points.append((column.max, 1.0))
        edges, cumulative = [points[0][0]], [0.0]
        for edge, share in points[1:]:
            if edge > edges[-1]:
                edges.append(edge)
                cumulative.append(share)
            elif len(edges) > 1:  # a repeated edge: its bin takes the share
                cumulative[-1] = share
        cumulative[-1] = 1.0
        if len(edges) > 1:
            shares = [b - a for a, b in itertools.pairwise(cumulative)]
            return LabelSchema(column=label, edges=edges, shares=shares)
    return LabelSchema(column=label)


def _infer_column(stats: ColumnStatistics) -> ColumnSchema:
    categories: list[str] | None = None
    if stats.top_values is not None and 0 < stats.distinct <= MAX_CATEGORIES:
        categories = sorted(stats.top_values)
    numeric = stats.kind == "numeric"
    return ColumnSchema(
        name=stats.name,
        kind=stats.kind,
        dtype=stats.dtype,
        nullable=stats.nulls > 0,
        min=stats.min if numeric else None,
        max=stats.max if numeric else None,
        categories=categories,
    )
