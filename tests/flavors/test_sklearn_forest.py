"""scikit-learn forests predicted tree by tree: the forest's own answers, without joblib."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.ensemble import _forest as forest_module
from sklearn.linear_model import LogisticRegression

from evergreen.flavors import Signature, get_flavor
from evergreen.flavors.sklearn_forest import (
    LOOKUP_ROWS,
    ONE_TREE_ROWS,
    _each_tree_leaves,
    _leaf_values,
    _one_tree,
    tree_by_tree,
)

CLASSES = make_classification(
    n_samples=1500, n_features=12, n_informative=6, n_classes=3, random_state=0
)
VALUES = make_regression(n_samples=1500, n_features=12, noise=5.0, random_state=0)


def no_fallback(rows: np.ndarray) -> np.ndarray:
    raise AssertionError("the forest's own predict was called")


@pytest.mark.parametrize(
    ("make", "data"),
    [
        (lambda: RandomForestClassifier(40, min_samples_leaf=3, random_state=0), CLASSES),
        (lambda: ExtraTreesClassifier(40, random_state=0), CLASSES),
        (lambda: RandomForestRegressor(40, random_state=0), VALUES),
        (lambda: ExtraTreesRegressor(40, max_depth=6, random_state=0), VALUES),
    ],
    ids=["rf-classifier", "et-classifier", "rf-regressor", "et-regressor"],
)
def test_a_forest_gives_its_own_answers_tree_by_tree(make: Any, data: Any) -> None:
    x, y = data
    model = make().fit(x[:1000], y[:1000])
    predict = tree_by_tree(model, no_fallback)
    assert predict is not None
    held_out = x[1000:]
    expected = model.predict(held_out)
    got = predict(held_out)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)  # bit for bit, not approximately
    # one tree holding them all, then each tree's own predict
    for rows in (1, 13, LOOKUP_ROWS + 1, ONE_TREE_ROWS, ONE_TREE_ROWS + 1):
        np.testing.assert_array_equal(predict(held_out[:rows]), expected[:rows])
    np.testing.assert_array_equal(predict(held_out.astype(np.float32)), expected)
    assert len(predict(held_out[:0])) == 0


@pytest.mark.parametrize("classifier", [True, False])
def test_the_leaf_table_holds_what_each_tree_adds_up(classifier: bool) -> None:
    x, y = CLASSES if classifier else VALUES
    kind = RandomForestClassifier if classifier else RandomForestRegressor
    # grown in full, a classifier's leaves hold proportions that need no dividing
    model = kind(5, max_depth=None if classifier else 5, random_state=0).fit(x, y)
    table = _leaf_values(model.estimators_, classifier)
    assert table is not None
    values, offsets = table
    rows = x[:20].astype(np.float32)
    for tree, offset in zip(model.estimators_, offsets[:, 0], strict=True):
        own = tree.predict_proba(rows) if classifier else tree.predict(rows)
        np.testing.assert_array_equal(values[tree.tree_.apply(rows) + offset], own)


@pytest.mark.parametrize(
    "make",
    [
        lambda: RandomForestClassifier(37, random_state=0),
        lambda: ExtraTreesRegressor(1, random_state=0),
        lambda: RandomForestRegressor(8, max_depth=3, random_state=0),
    ],
    ids=["37-trees", "one-tree", "8-shallow-trees"],
)
def test_one_tree_finds_the_leaves_each_tree_finds(make: Any) -> None:
    x, y = CLASSES
    model = make().fit(x[:1000], y[:1000])
    leaves = _one_tree(model.estimators_, x.shape[1])
    assert leaves is not None
    rows = x[1000:].astype(np.float32)
    for count in (1, 7, len(rows)):
        found = leaves(rows[:count])
        assert found.shape == (len(model.estimators_), count)
        np.testing.assert_array_equal(found, _each_tree_leaves(model.estimators_, rows[:count]))
    own = [tree.tree_.apply(rows[:5]) for tree in model.estimators_]
    np.testing.assert_array_equal(leaves(rows[:5]), np.stack(own))
    assert leaves(rows[:0]).shape == (len(model.estimators_), 0)


def test_a_forest_too_big_to_copy_is_not_joined(monkeypatch: pytest.MonkeyPatch) -> None:
    from evergreen.flavors import sklearn_forest

    x, y = CLASSES
    model = RandomForestClassifier(6, random_state=0).fit(x, y)
    nodes = sum(tree.tree_.node_count for tree in model.estimators_) + 5  # and 5 routing nodes
    size = nodes * model.estimators_[0].tree_.__getstate__()["nodes"].dtype.itemsize
    monkeypatch.setattr(sklearn_forest, "MAX_JOINED_BYTES", size - 1)
    assert _one_tree(model.estimators_, x.shape[1]) is None
    monkeypatch.setattr(sklearn_forest, "MAX_JOINED_BYTES", size)
    assert _one_tree(model.estimators_, x.shape[1]) is not None


def test_a_joined_tree_that_finds_other_leaves_is_not_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from evergreen.flavors import sklearn_forest

    x, y = CLASSES
    model = RandomForestClassifier(5, random_state=0).fit(x, y)
    assert _one_tree(model.estimators_, x.shape[1]) is not None
    each = sklearn_forest._each_tree_leaves

    def one_off(trees: list[Any], rows: np.ndarray) -> np.ndarray:
        leaves = each(trees, rows)
        leaves[-1, -1] += 1  # as if scikit-learn's apply compared one row otherwise
        return leaves

    monkeypatch.setattr(sklearn_forest, "_each_tree_leaves", one_off)
    assert _one_tree(model.estimators_, x.shape[1]) is None


def test_a_forest_whose_trees_cannot_be_joined_uses_one_lookup_a_tree(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sklearn.tree import _tree as compiled

    x, y = CLASSES
    model = RandomForestClassifier(12, random_state=0).fit(x[:1000], y[:1000])
    expected = model.predict(x[1000:1020])

    class Refusing(compiled.Tree):  # type: ignore[misc]
        def __setstate__(self, state: Any) -> None:
            raise ValueError("Did not recognise loaded array layout")

    monkeypatch.setattr(compiled, "Tree", Refusing)
    assert _one_tree(model.estimators_, x.shape[1]) is None
    predict = tree_by_tree(model, no_fallback)
    assert predict is not None
    np.testing.assert_array_equal(predict(x[1000:1020]), expected)


def test_the_trees_are_called_without_joblib(monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = CLASSES
    model = RandomForestClassifier(10, random_state=0).fit(x, y)
    expected = model.predict(x[:50])
    predict = tree_by_tree(model, no_fallback)
    assert predict is not None

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("joblib's Parallel was used")

    monkeypatch.setattr(forest_module, "Parallel", refuse)
    with pytest.raises(AssertionError, match="Parallel"):
        model.predict(x[:50])  # the forest's own predict goes through it
    np.testing.assert_array_equal(predict(x[:50]), expected)


def test_rows_with_missing_values_or_the_wrong_width_go_to_the_forest() -> None:
    x, y = CLASSES
    gappy = x.copy()
    gappy[::7, 2] = np.nan  # scikit-learn's forests learn where missing values go
    model = RandomForestClassifier(20, random_state=0).fit(gappy, y)
    calls: list[int] = []

    def fallback(rows: np.ndarray) -> np.ndarray:
        calls.append(len(rows))
        return np.asarray(model.predict(rows))

    predict = tree_by_tree(model, fallback)
    assert predict is not None
    np.testing.assert_array_equal(predict(gappy[:30]), model.predict(gappy[:30]))
    assert calls == [30]  # the NaNs went to the forest
    np.testing.assert_array_equal(predict(x[1:2]), model.predict(x[1:2]))
    assert calls == [30]  # finite rows did not
    with pytest.raises(ValueError, match="features"):
        predict(x[:5, :4])  # the forest's own error, not a read past the rows
    assert calls == [30, 5]


def test_other_models_are_not_forests() -> None:
    x, y = CLASSES
    assert tree_by_tree(LogisticRegression(max_iter=500).fit(x, y), no_fallback) is None
    assert tree_by_tree(GradientBoostingClassifier(n_estimators=5).fit(x, y), no_fallback) is None
    two_outputs = RandomForestRegressor(5, random_state=0).fit(x, np.column_stack([y, y]))
    assert tree_by_tree(two_outputs, no_fallback) is None
    assert tree_by_tree(RandomForestClassifier(5), no_fallback) is None  # not fitted

    class Calibrated(RandomForestClassifier):  # type: ignore[misc]
        def predict(self, X: Any) -> Any:
            return super().predict(X)

    assert tree_by_tree(Calibrated(5, random_state=0).fit(x, y), no_fallback) is None


def test_the_sklearn_flavor_predicts_a_forest_on_arrays_tree_by_tree(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    x, y = CLASSES
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(x.shape[1])])
    target = pd.Series(y, name="label")
    model = RandomForestClassifier(15, random_state=0).fit(frame, target)
    signature = Signature.infer(frame, target, "classification")
    on_array = get_flavor("sklearn").array_predict(model, signature)
    assert on_array is not None
    expected = model.predict(frame.iloc[:40])
    monkeypatch.setattr(forest_module, "Parallel", None)  # tree by tree needs no joblib
    np.testing.assert_array_equal(on_array(frame.iloc[:40].to_numpy()), expected)


class CountingTree:
    """A tree as scikit-learn releases that stored counts in the leaves had it: its own
    ``predict_proba`` divides each leaf's values by their sum."""

    n_classes_ = 2

    def __init__(self, nodes: list[list[float]], children_left: list[int] | None = None) -> None:
        values = np.asarray(nodes, dtype=np.float64)[:, np.newaxis, :]
        left = np.asarray(children_left or [-1] * len(nodes))  # -1: a leaf
        self.leaf = int(np.flatnonzero(left == -1)[0])  # where every row lands
        compiled = {"value": values, "children_left": left, "predict": self._leaf_rows}
        self.tree_ = type("Compiled", (), compiled)()
        self.public_calls = 0

    def _leaf_rows(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.tree_.value[np.full(len(x), self.leaf), 0, :])

    def predict_proba(self, x: np.ndarray, check_input: bool = True) -> np.ndarray:
        assert check_input is False
        self.public_calls += 1
        rows = self._leaf_rows(x)
        return np.asarray(rows / rows.sum(axis=1, keepdims=True))


def test_a_tree_whose_leaves_are_not_proportions_is_asked_itself() -> None:
    from evergreen.flavors.sklearn_forest import _tree_call

    rows = np.zeros((3, 2), dtype=np.float32)
    counts = CountingTree([[3.0, 1.0]])
    np.testing.assert_array_equal(_tree_call(counts, True)(rows), [[0.75, 0.25]] * 3)
    assert counts.public_calls == 1  # the division its own predict_proba makes
    shares = CountingTree([[0.75, 0.25]])
    np.testing.assert_array_equal(_tree_call(shares, True)(rows), [[0.75, 0.25]] * 3)
    assert shares.public_calls == 0  # dividing changes nothing: the compiled tree alone
    # an inner node's values need not be proportions: no row ever lands there
    inner = CountingTree([[0.5, 0.25], [0.75, 0.25]], children_left=[1, -1])
    np.testing.assert_array_equal(_tree_call(inner, True)(rows), [[0.75, 0.25]] * 3)
    assert inner.public_calls == 0
