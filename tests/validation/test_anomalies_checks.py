"""The checks beyond the column basics: null ratio, constant columns, duplicates, the label,
and severity overrides."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evergreen.validation.anomalies import check_batch
from evergreen.validation.schema import (
    ColumnSchema,
    DatasetSettings,
    LabelSchema,
    Schema,
    infer_schema,
)
from evergreen.validation.statistics import compute_statistics

LABEL = LabelSchema(column="weather", categories={"clear": 0.5, "rain": 0.5})
SCHEMA = Schema(
    columns=[
        ColumnSchema(name="temp", kind="numeric", min=0.0, max=1.0, min_distinct=2),
        ColumnSchema(name="note", kind="categorical", nullable=True, max_null_ratio=0.5),
        ColumnSchema(
            name="weather",
            kind="categorical",
            categories=["clear", "rain"],
            max_unseen_ratio=0.2,
        ),
    ],
    dataset=DatasetSettings(max_duplicate_ratio=0.1, label=LABEL),
)


def good_batch(rows: int = 100) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "temp": np.linspace(0.0, 1.0, rows),
            "note": ["a" if i % 4 else None for i in range(rows)],
            "weather": ["clear" if i % 2 else "rain" for i in range(rows)],
        }
    )


def _bad(column: str, values: object) -> pd.DataFrame:
    return good_batch().assign(**{column: values})


CASES = {
    "null-ratio": (_bad("note", [None] * 60 + ["a"] * 40), "null_ratio", "note", 0.6),
    "constant": (_bad("temp", 0.5), "constant_column", "temp", 1),
    "unseen-above-ratio": (
        _bad("weather", ["snow"] * 30 + ["clear", "rain"] * 35),
        "unseen_categories",
        "weather",
        0.3,
    ),
    "duplicates": (
        pd.concat([good_batch(50)] * 2, ignore_index=True),
        "duplicate_rows",
        None,
        0.5,
    ),
    "missing-label": (good_batch().drop(columns="weather"), "missing_label", "weather", None),
    "all-null-label": (_bad("weather", None), "missing_label", "weather", 1.0),
    "label-shift": (
        _bad("weather", ["clear"] * 90 + ["rain"] * 10),
        "label_shift",
        "weather",
        None,
    ),
}


@pytest.mark.parametrize(("batch", "check", "column", "observed"), CASES.values(), ids=CASES.keys())
def test_each_check_fires_on_the_bad_batch_only(
    batch: pd.DataFrame, check: str, column: str | None, observed: object
) -> None:
    assert check_batch(good_batch(), SCHEMA) == []

    found = [a for a in check_batch(batch, SCHEMA) if a.check == check]

    assert [(a.check, a.column) for a in found] == [(check, column)]
    if observed is not None:
        assert found[0].observed == pytest.approx(observed)
    if column is not None:
        assert repr(column) in found[0].message


def test_label_shift_names_the_p_value_and_the_moved_category() -> None:
    [shift] = [
        a
        for a in check_batch(_bad("weather", ["clear"] * 90 + ["rain"] * 10), SCHEMA)
        if a.check == "label_shift"
    ]
    assert isinstance(shift.observed, float) and shift.observed < 0.01
    assert "p = " in shift.message and "50.0% -> 90.0%" in shift.message


def test_unseen_categories_within_the_tolerated_ratio_pass() -> None:
    batch = _bad("weather", ["snow"] * 10 + ["clear", "rain"] * 45)
    assert [a.check for a in check_batch(batch, SCHEMA)] == []


def test_numeric_label_shift_uses_the_histogram() -> None:
    reference = pd.DataFrame({"y": np.random.default_rng(0).normal(size=2000)})
    schema = infer_schema(compute_statistics(reference), label="y")
    assert schema.dataset is not None and schema.dataset.label is not None
    assert schema.dataset.label.edges is not None
    same = pd.DataFrame({"y": np.random.default_rng(1).normal(size=2000)})
    moved = pd.DataFrame({"y": np.random.default_rng(1).normal(1.0, size=2000)})
    assert [a.check for a in check_batch(same, schema) if a.column == "y"] == ["out_of_range"]
    assert [a.check for a in check_batch(moved, schema)] == ["out_of_range", "label_shift"]


def test_ignoring_the_label_skips_the_label_checks() -> None:
    batch = good_batch().drop(columns="weather")
    assert check_batch(batch, SCHEMA, ignore=["weather"]) == []


@pytest.mark.parametrize(
    ("overrides", "severity"),
    [
        ({}, "warning"),
        ({"checks": {"out_of_range": "error"}}, "error"),
        ({"column_checks": {"out_of_range": "error"}}, "error"),
        (
            {"checks": {"out_of_range": "error"}, "column_checks": {"out_of_range": "warning"}},
            "warning",
        ),
        ({"checks": {"out_of_range": "off"}}, None),
    ],
    ids=["default", "schema-wide", "per-column", "column-beats-schema", "off"],
)
def test_severity_overrides(overrides: dict[str, dict[str, str]], severity: str | None) -> None:
    column = ColumnSchema(
        name="temp", kind="numeric", min=0.0, max=1.0, checks=overrides.get("column_checks")
    )
    schema = Schema(columns=[column], checks=overrides.get("checks"))
    anomalies = check_batch(pd.DataFrame({"temp": [0.5, 2.0]}), schema)
    assert [a.severity for a in anomalies] == ([] if severity is None else [severity])
