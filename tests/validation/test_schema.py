from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from evergreen.errors import InvalidInput, NotFound
from evergreen.validation.schema import MAX_CATEGORIES, ColumnSchema, Schema, infer_schema
from evergreen.validation.statistics import compute_statistics

VALID_YAML = """\
columns:
  - name: temp
    kind: numeric
    dtype: float64
    min: 0.02
    max: 0.86
  - name: weather
    kind: categorical
    nullable: true
    categories: [clear, mist, rain]
  - name: season
    kind: categorical
    categories: [1, 2, 3, 4]
    required: false
"""


def test_infer_schema_takes_the_tightest_constraints() -> None:
    frame = pd.DataFrame(
        {
            "temp": [0.5, 0.1, None, 0.9],
            "weather": ["rain", "clear", "clear", "mist"],
            "many": [f"id{i}" for i in range(4)],
            "empty": pd.Series([None] * 4, dtype=object),
            "holiday": [True, False, False, True],
            "day": pd.to_datetime(["2024-01-01"] * 4),
        }
    )
    frame = pd.concat([frame] * 20, ignore_index=True)
    frame["many"] = [f"id{i}" for i in range(len(frame))]

    schema = infer_schema(compute_statistics(frame))

    assert schema.names == list(frame.columns)
    assert schema.column("temp") == ColumnSchema(
        name="temp", kind="numeric", dtype="float64", nullable=True, min=0.1, max=0.9
    )
    assert schema.column("weather").categories == ["clear", "mist", "rain"]
    assert not schema.column("weather").nullable
    assert schema.column("many").categories is None  # 80 distinct values > MAX_CATEGORIES
    assert schema.column("empty").categories is None
    assert schema.column("holiday").categories == ["False", "True"]
    assert schema.column("day").kind == "datetime"


def test_categories_up_to_the_limit_are_listed() -> None:
    values = [f"c{i:02d}" for i in range(MAX_CATEGORIES)]
    schema = infer_schema(compute_statistics(pd.DataFrame({"c": values})))
    assert schema.column("c").categories == values


def test_yaml_round_trip(bike_sharing: pd.DataFrame) -> None:
    schema = infer_schema(compute_statistics(bike_sharing))
    assert Schema.from_yaml(schema.to_yaml()) == schema
    assert Schema.from_dict(schema.to_dict()) == schema


def test_hand_written_yaml() -> None:
    schema = Schema.from_yaml(VALID_YAML, source="schema.yaml")
    assert schema.names == ["temp", "weather", "season"]
    assert schema.column("temp").nullable is False
    assert schema.column("season").categories == ["1", "2", "3", "4"]
    assert schema.column("season").required is False


def test_column_lookup_names_the_known_columns() -> None:
    schema = Schema.from_yaml(VALID_YAML)
    with pytest.raises(NotFound, match=r"no column 'tmp'.*\['temp', 'weather', 'season'\]"):
        schema.column("tmp")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            VALID_YAML.replace("nullable: true", "nulable: true"),
            r"columns\[1\] \(column 'weather'\): "
            r"unknown key 'nulable' \(did you mean 'nullable'\?\)",
        ),
        ("colums: []\n", r"unknown key 'colums' \(did you mean 'columns'\?\)"),
        (
            VALID_YAML.replace("kind: numeric", "kind: number"),
            r"columns\[0\] \(column 'temp'\), key 'kind': Input should be 'numeric'.*'number'",
        ),
        (
            VALID_YAML.replace("nullable: true", "nullable: sometimes"),
            r"column 'weather'\), key 'nullable'.*valid boolean.*'sometimes'",
        ),
        (
            VALID_YAML.replace("min: 0.02", "min: 0.9"),
            r"column 'temp' has min 0.9 greater than max",
        ),
        ("columns:\n  - kind: numeric\n", r"columns\[0\]: missing required key 'name'"),
        (
            "columns:\n  - {name: a, kind: numeric, categories: [x]}\n",
            r"column 'a' has kind 'numeric'; categories apply to categorical",
        ),
        (
            "columns:\n  - {name: a, kind: categorical, min: 1}\n",
            r"min/max apply to numeric columns only",
        ),
        (
            "columns:\n  - {name: a, kind: numeric}\n  - {name: a, kind: numeric}\n",
            r"columns \['a'\] are listed more than once",
        ),
        ("- name: a\n", r"expected a mapping .* found list"),
        ("columns: [\n", r"not valid YAML"),
    ],
    ids=[
        "typo-in-column",
        "typo-at-top-level",
        "unknown-kind",
        "bad-bool",
        "min-above-max",
        "missing-name",
        "categories-on-numeric",
        "range-on-categorical",
        "duplicate-column",
        "not-a-mapping",
        "bad-syntax",
    ],
)
def test_from_yaml_names_the_source_and_the_problem(text: str, expected: str) -> None:
    with pytest.raises(InvalidInput, match=expected) as raised:
        Schema.from_yaml(text, source="pipelines/bikes/schema.yaml")
    assert str(raised.value).startswith("pipelines/bikes/schema.yaml is not")


_names = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=12)
_bounds = st.floats(allow_nan=False)


@st.composite
def _column(draw: st.DrawFn, name: str) -> ColumnSchema:
    kind = draw(st.sampled_from(["numeric", "categorical", "boolean", "datetime"]))
    fields: dict[str, object] = {
        "name": name,
        "kind": kind,
        "dtype": draw(st.none() | st.sampled_from(["int64", "float64", "str", "bool"])),
        "nullable": draw(st.booleans()),
        "required": draw(st.booleans()),
    }
    if kind == "numeric":
        low, high = sorted([draw(_bounds), draw(_bounds)])
        fields["min"] = draw(st.none() | st.just(low))
        fields["max"] = draw(st.none() | st.just(high))
    if kind in ("categorical", "boolean"):
        fields["categories"] = draw(st.none() | st.lists(_names, unique=True, max_size=5))
    return ColumnSchema.model_validate(fields)


@st.composite
def _schemas(draw: st.DrawFn) -> Schema:
    names = draw(st.lists(_names, unique=True, max_size=6))
    return Schema(columns=[draw(_column(name)) for name in names])


@given(_schemas())
def test_any_schema_round_trips_through_yaml(schema: Schema) -> None:
    assert Schema.from_yaml(schema.to_yaml()) == schema
