"""Severities, thresholds and dataset settings in the schema YAML."""

from __future__ import annotations

import pandas as pd
import pytest

from evergreen.errors import InvalidInput
from evergreen.validation.schema import DEFAULT_SEVERITY, Schema, infer_schema
from evergreen.validation.statistics import compute_statistics

YAML = """\
columns:
  - name: temp
    kind: numeric
    min: 0.0
    max: 1.0
    checks: {out_of_range: error}
  - name: weather
    kind: categorical
    nullable: true
    max_null_ratio: 0.05
    categories: [clear, mist, rain]
    max_unseen_ratio: 0.01
    min_distinct: 2
checks: {extra_column: "off", constant_column: error}
dataset:
  max_duplicate_ratio: 0.01
  label:
    column: weather
    categories: {clear: 0.6, mist: 0.3, rain: 0.1}
"""


def test_severities_and_settings_round_trip_through_yaml() -> None:
    schema = Schema.from_yaml(YAML, source="schema.yaml")
    assert Schema.from_yaml(schema.to_yaml()) == schema
    assert schema.severity("out_of_range", "temp") == "error"
    assert schema.severity("out_of_range", "weather") == "warning"
    assert schema.severity("extra_column", "anything") == "off"
    assert schema.severity("constant_column", "weather") == "error"
    assert schema.dataset is not None and schema.dataset.max_duplicate_ratio == 0.01
    assert schema.dataset.label is not None
    assert schema.dataset.label.categories == {"clear": 0.6, "mist": 0.3, "rain": 0.1}


def test_inferred_schema_with_a_label_round_trips(bike_sharing: pd.DataFrame) -> None:
    schema = infer_schema(
        compute_statistics(bike_sharing), label="weathersit", max_duplicate_ratio=0.0
    )
    assert schema.dataset is not None and schema.dataset.label is not None
    assert Schema.from_yaml(schema.to_yaml()) == schema
    assert set(DEFAULT_SEVERITY) >= {"null_ratio", "label_shift", "duplicate_rows"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            YAML.replace("out_of_range: error", "out_of_rang: error"),
            r"column 'temp'\), key 'checks': unknown check 'out_of_rang' "
            r"\(did you mean 'out_of_range'\?\)",
        ),
        (
            YAML.replace("constant_column: error", "constant_column: fatal"),
            r"key 'constant_column'.*'error', 'warning' or 'off'.*'fatal'",
        ),
        (YAML.replace("max_null_ratio: 0.05", "max_null_ratio: 5"), r"max_null_ratio.*less than"),
        (
            YAML.replace("max_duplicate_ratio", "max_duplicates_ratio"),
            r"unknown key 'max_duplicates_ratio' \(did you mean 'max_duplicate_ratio'\?\)",
        ),
    ],
    ids=["unknown-check", "bad-severity", "ratio-above-one", "typo-in-dataset"],
)
def test_schema_typos_are_named(text: str, expected: str) -> None:
    with pytest.raises(InvalidInput, match=expected):
        Schema.from_yaml(text, source="schema.yaml")
