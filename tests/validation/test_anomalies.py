from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import pandas as hpd

from evergreen.errors import InvalidInput
from evergreen.validation.anomalies import Anomaly, check_batch
from evergreen.validation.schema import ColumnSchema, Schema, infer_schema
from evergreen.validation.statistics import compute_statistics

SCHEMA = Schema(
    columns=[
        ColumnSchema(name="temp", kind="numeric", min=0.0, max=1.0),
        ColumnSchema(name="count", kind="numeric", nullable=True),
        ColumnSchema(name="weather", kind="categorical", categories=["clear", "mist", "rain"]),
        ColumnSchema(name="holiday", kind="boolean", nullable=True, categories=["False", "True"]),
        ColumnSchema(name="note", kind="categorical", nullable=True, required=False),
    ]
)


def good_batch() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "temp": [0.1, 0.5, 0.9, 0.3],
            "count": [10, 20, 30, 40],
            "weather": ["clear", "rain", "clear", "mist"],
            "holiday": [True, False, None, False],
            "note": ["a", None, "b", "c"],
        }
    )


def _set(column: str, values: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    return lambda frame: frame.assign(**{column: values})


CASES: list[tuple[Callable[[pd.DataFrame], pd.DataFrame], str, str | None, str, object]] = [
    (lambda frame: frame.iloc[:0], "empty_batch", None, "error", 0),
    (lambda frame: frame.drop(columns="weather"), "missing_column", "weather", "error", None),
    (lambda frame: frame.assign(extra=1), "extra_column", "extra", "warning", None),
    (_set("temp", ["a", "b", "c", "d"]), "kind_mismatch", "temp", "error", "categorical"),
    (_set("holiday", [1, 0, 1, 0]), "kind_mismatch", "holiday", "error", "numeric"),
    (_set("temp", [0.1, None, 0.2, 0.3]), "unexpected_nulls", "temp", "error", 0.25),
    (_set("weather", [None] * 4), "unexpected_nulls", "weather", "error", 1.0),
    (_set("temp", [0.1, 1.5, 0.2, 0.3]), "out_of_range", "temp", "warning", 0.25),
    (
        _set("weather", ["clear", "snow", "snow", "rain"]),
        "unseen_categories",
        "weather",
        "warning",
        0.5,
    ),
]


@pytest.mark.parametrize(
    ("spoil", "check", "column", "severity", "observed"),
    CASES,
    ids=[
        "empty",
        "missing-column",
        "extra-column",
        "numeric-became-strings",
        "boolean-became-ints",
        "nulls",
        "all-null",
        "out-of-range",
        "unseen-category",
    ],
)
def test_each_check_fires_on_the_bad_batch_only(
    spoil: Callable[[pd.DataFrame], pd.DataFrame],
    check: str,
    column: str | None,
    severity: str,
    observed: object,
) -> None:
    assert check_batch(good_batch(), SCHEMA) == []

    anomalies = check_batch(spoil(good_batch()), SCHEMA)

    assert [(a.check, a.column, a.severity, a.observed) for a in anomalies] == [
        (check, column, severity, observed)
    ]
    assert column is None or repr(column) in anomalies[0].message


@pytest.mark.parametrize(
    "spoil",
    [
        _set("count", [10.5, 20.0, None, 40.0]),
        lambda frame: frame.drop(columns="note"),
        _set("count", [None] * 4),
        _set("holiday", pd.Series([True, None, False, None], dtype="boolean")),
        _set("weather", pd.Series(["clear", "rain", "clear", "mist"], dtype="category")),
        _set("temp", pd.Series([0, 1, 0, 1], dtype="Int64")),
    ],
    ids=[
        "int-arrives-as-float",
        "optional-column-missing",
        "nullable-all-null",
        "nullable-boolean-dtype",
        "category-dtype",
        "float-arrives-as-nullable-int",
    ],
)
def test_harmless_changes_raise_nothing(spoil: Callable[[pd.DataFrame], pd.DataFrame]) -> None:
    assert check_batch(spoil(good_batch()), SCHEMA) == []


def test_out_of_range_message() -> None:
    schema = Schema(columns=[ColumnSchema(name="temp", kind="numeric", min=0.02, max=0.86)])
    values = np.r_[np.full(88, 0.5), np.full(6, 0.01), np.full(6, 0.95)]
    [anomaly] = check_batch(pd.DataFrame({"temp": values}), schema)
    assert (
        anomaly.message
        == "column 'temp': 12.0% of values outside [0.02, 0.86] (min 0.01, max 0.95)"
    )
    assert anomaly.observed == pytest.approx(0.12)
    assert anomaly.details == {"min": 0.01, "max": 0.95}


def test_unseen_categories_show_up_to_five_examples_most_frequent_first() -> None:
    schema = Schema(columns=[ColumnSchema(name="c", kind="categorical", categories=["a"])])
    values = ["a"] * 10 + ["x"] * 3 + ["y"] * 2 + ["p", "q", "r", "s", "t"]
    [anomaly] = check_batch(pd.DataFrame({"c": values}), schema)
    assert anomaly.details == {"examples": ["x", "y", "p", "q", "r"]}
    assert anomaly.observed == 0.5
    assert anomaly.message == (
        "column 'c': 50.0% of values are not among the schema's categories: "
        "'x', 'y', 'p', 'q', 'r' and 2 more"
    )


def test_one_sided_range() -> None:
    schema = Schema(columns=[ColumnSchema(name="n", kind="numeric", min=0)])
    [anomaly] = check_batch(pd.DataFrame({"n": [-1, 5, 1e9]}), schema)
    assert "outside [0, inf] (min -1, max 1e+09)" in anomaly.message


def test_ignored_columns_are_skipped() -> None:
    batch = good_batch().drop(columns="temp").assign(prediction=0.5)
    assert {a.check for a in check_batch(batch, SCHEMA)} == {"missing_column", "extra_column"}
    assert check_batch(batch, SCHEMA, ignore=["temp", "prediction"]) == []


def test_anomalies_come_in_schema_order_then_extras() -> None:
    batch = good_batch().assign(zzz=1, temp=[None, 2.0, 0.5, 0.5]).drop(columns="weather")
    assert [(a.check, a.column) for a in check_batch(batch, SCHEMA)] == [
        ("unexpected_nulls", "temp"),
        ("out_of_range", "temp"),
        ("missing_column", "weather"),
        ("extra_column", "zzz"),
    ]


def test_duplicate_columns_are_rejected() -> None:
    batch = pd.concat([good_batch(), good_batch()[["temp"]]], axis=1)
    with pytest.raises(InvalidInput, match=r"batch has duplicate column names \['temp'\]"):
        check_batch(batch, SCHEMA)


def test_anomaly_round_trips() -> None:
    [anomaly] = check_batch(good_batch().assign(weather="snow"), SCHEMA)
    assert Anomaly.model_validate_json(anomaly.model_dump_json()) == anomaly


_frames = hpd.data_frames(
    [
        hpd.column("n", elements=st.floats(-1e6, 1e6) | st.none(), dtype=float),
        hpd.column("i", elements=st.integers(-(2**62), 2**62), dtype=np.int64),
        hpd.column("c", elements=st.sampled_from(["a", "b", "é", "1"]) | st.none(), dtype=object),
        hpd.column("b", elements=st.booleans(), dtype=bool),
    ],
    index=hpd.range_indexes(min_size=1, max_size=40),
)


@settings(max_examples=50)
@given(_frames)
def test_a_batch_passes_the_schema_inferred_from_itself(frame: pd.DataFrame) -> None:
    assert check_batch(frame, infer_schema(compute_statistics(frame))) == []


def test_numbers_with_stray_text_name_the_first_text_value_and_its_row() -> None:
    batch = good_batch().assign(temp=["0.1", "0.5", "n/a?", "0.3"])  # as a CSV column reads
    [anomaly] = check_batch(batch, SCHEMA)
    assert anomaly.check == "kind_mismatch" and anomaly.severity == "error"
    assert anomaly.message == (
        "column 'temp' mixes numbers and text: 'n/a?' at row 3 (of 3 numbers); "
        "fix the value, or leave it empty for a missing one"
    )
    assert anomaly.details["first_text_row"] == 3


def test_mostly_text_keeps_the_plain_kind_message() -> None:
    batch = good_batch().assign(temp=["a", "b", "1", "c"])
    [anomaly] = check_batch(batch, SCHEMA)
    assert (
        anomaly.message
        == "column 'temp': expected numeric values, found categorical (dtype object)"
    )
