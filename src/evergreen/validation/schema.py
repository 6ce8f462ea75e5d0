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
        categories: [clear, mist, rain]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from evergreen.errors import NotFound
from evergreen.validation.kinds import Kind
from evergreen.validation.parsing import load_yaml, parse_model
from evergreen.validation.statistics import ColumnStatistics, DatasetStatistics

MAX_CATEGORIES = 50
"""Columns with more distinct values than this get no category list when inferred."""


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


class Schema(BaseModel):
    """The expected columns of a data set, in order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    columns: list[ColumnSchema]

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


def infer_schema(stats: DatasetStatistics) -> Schema:
    """The tightest schema the statistics allow.

    A column is nullable iff nulls were seen, a numeric range is the observed min/max, and the
    categories are the observed values when there are at most ``MAX_CATEGORIES`` of them (and
    at least one: an all-null column teaches nothing about its categories).
    """
    return Schema(columns=[_infer_column(column) for column in stats.columns.values()])


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
