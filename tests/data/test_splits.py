"""Holdout splits: every method reproduces exactly from its spec and seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from evergreen.data.splits import SplitSpec, describe, split, split_indices
from evergreen.errors import InvalidInput

SPECS = [
    SplitSpec(method="random", seed=7),
    SplitSpec(method="time", time_column="t"),
    SplitSpec(method="stratified", stratify_column="label", seed=7),
    SplitSpec(method="group", group_column="user", seed=7),
]


def frame(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "t": rng.permutation(n),
            "label": rng.choice(["a", "b", "c"], size=n, p=[0.6, 0.3, 0.1]),
            "user": rng.integers(0, 25, size=n),
        }
    )


@pytest.mark.parametrize("spec", SPECS, ids=[s.method for s in SPECS])
def test_the_same_spec_on_the_same_data_gives_identical_indices(spec: SplitSpec) -> None:
    data = frame()
    first = split_indices(data, spec)
    again = split_indices(data.copy(), SplitSpec.model_validate(spec.model_dump()))
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    train, holdout = split(data, spec)
    assert describe(spec, train, holdout)["seed"] == spec.seed


@pytest.mark.parametrize("method", ["random", "stratified", "group"])
def test_another_seed_gives_another_split(method: str) -> None:
    data = frame()
    kwargs = {"stratified": {"stratify_column": "label"}, "group": {"group_column": "user"}}
    one = split_indices(data, SplitSpec(method=method, seed=1, **kwargs.get(method, {})))
    two = split_indices(data, SplitSpec(method=method, seed=2, **kwargs.get(method, {})))
    assert not np.array_equal(one[1], two[1])


def test_random_split_is_unchanged_from_earlier_releases() -> None:
    """Runs recorded before stratified and group splits existed still reproduce."""
    data = frame(10)
    order = np.random.default_rng(3).permutation(10)
    train, holdout = split_indices(data, SplitSpec(seed=3, holdout=0.3))
    assert holdout.tolist() == sorted(order[7:].tolist())
    assert train.tolist() == sorted(order[:7].tolist())


def test_stratified_keeps_each_class_share() -> None:
    data = frame(1000)
    _, holdout = split(data, SplitSpec(method="stratified", stratify_column="label", seed=3))
    counts = data["label"].value_counts()
    held = holdout["label"].value_counts()
    for label in counts.index:
        assert abs(held[label] - 0.2 * counts[label]) <= 1


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (SplitSpec(method="stratified", stratify_column="nope"), "stratify column 'nope'"),
        (SplitSpec(method="group", group_column="nope"), "group column 'nope'"),
    ],
    ids=["stratify", "group"],
)
def test_a_missing_column_is_invalid_input(spec: SplitSpec, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        split(frame(), spec)


def test_one_group_cannot_be_split() -> None:
    data = pd.DataFrame({"user": [1] * 10})
    with pytest.raises(InvalidInput, match="every group would be held out"):
        split(data, SplitSpec(method="group", group_column="user"))


@pytest.mark.parametrize("method", ["stratified", "group"])
def test_the_method_needs_its_column(method: str) -> None:
    with pytest.raises(ValidationError, match=f"a {method} split needs"):
        SplitSpec(method=method)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(min_value=2, max_value=300),
    holdout=st.floats(min_value=0.05, max_value=0.95),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    n_labels=st.integers(min_value=1, max_value=6),
    n_groups=st.integers(min_value=2, max_value=40),
    method=st.sampled_from(["random", "time", "stratified", "group"]),
)
def test_split_invariants(
    n: int, holdout: float, seed: int, n_labels: int, n_groups: int, method: str
) -> None:
    rng = np.random.default_rng(seed)
    data = pd.DataFrame(
        {
            "t": rng.random(n),
            "label": rng.integers(0, n_labels, size=n),
            "user": rng.integers(0, n_groups, size=n),
        }
    )
    spec = SplitSpec(
        method=method,
        holdout=holdout,
        seed=seed,
        time_column="t",
        stratify_column="label",
        group_column="user",
    )
    n_holdout = round(n * holdout)
    try:
        train, held = split_indices(data, spec)
    except InvalidInput:
        # too few rows for a row on each side, or every group held out
        assert n_holdout < 1 or n_holdout >= n or method == "group"
        return
    # a partition of the rows, both sides non-empty, sorted
    assert sorted([*train.tolist(), *held.tolist()]) == list(range(n))
    assert len(train) > 0 and len(held) > 0
    assert train.tolist() == sorted(train.tolist()) and held.tolist() == sorted(held.tolist())
    if method in ("random", "time", "stratified"):
        assert len(held) == n_holdout
    if method == "group":
        assert len(held) >= n_holdout
        users = data["user"].to_numpy()
        assert not set(users[train]) & set(users[held])  # no group straddles
    if method == "time":
        assert data["t"].to_numpy()[train].max() <= data["t"].to_numpy()[held].min()
