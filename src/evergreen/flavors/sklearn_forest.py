"""scikit-learn forests predicted tree by tree, without joblib's price on every tree.

A forest's ``predict`` hands each tree to ``sklearn.utils.parallel.Parallel``, which, even with
``n_jobs=1``, wraps every tree's call in a copy of scikit-learn's configuration and of the
process's warning filters (``warnings.resetwarnings``, then one ``filterwarnings`` per filter
the process has). In a gateway, with the dozen filters its libraries install, that is ~30 us a
tree: 3 of the 4 ms a 100-tree forest takes for one row, and most of what a forest's call costs
whatever its rows. ``tree_by_tree`` does what the forest's own ``predict`` does, in the same
order, without that wrapper: each tree's ``predict_proba`` (classifiers) or ``predict``
(regressors) with ``check_input=False`` on the rows as float32, summed in estimator order,
divided by the number of trees, then the most probable class; 0.9 ms for one row. Where it is
the same bit for bit, each tree's compiled ``tree_.predict`` is called alone (``_tree_call``),
without the per-call check that the tree is fitted: 0.3 ms for one row, 0.6 ms for 32. Where
that holds for every tree, each tree's compiled ``tree_.apply`` only finds the rows' leaves,
and one lookup in a table of every tree's leaf values, summed over the trees in the same order,
replaces a hundred predicts' outputs and additions, for batches of up to ``LOOKUP_ROWS`` rows:
0.23 ms for one row, 0.32 ms for 13 (a batch on the event loop pays that whatever its rows,
so it counts when an A/B split halves the batches).

Only for single-output forests of scikit-learn's own trees whose ``predict`` is the library's;
rows holding NaN or infinities, or not as many columns as the forest was fitted on, go to the
forest's own ``predict`` (which refuses them, or routes missing values as its trees learnt).
The serving array path uses it only once its outputs are the same as the model's on real rows
(``serving.array_path``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

# Up to this many rows, one lookup in every tree's leaf values; beyond it the running sum of
# that lookup costs more than each tree's own predict (6% more at 100 rows).
LOOKUP_ROWS = 32


def tree_by_tree(
    model: Any, fallback: Callable[[np.ndarray], Any]
) -> Callable[[np.ndarray], np.ndarray] | None:
    """A predict on 2-D arrays for a forest ``model`` as described above, or None for any
    other model; ``fallback`` predicts rows that are not all finite."""
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        ExtraTreesRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.ensemble._forest import ForestClassifier, ForestRegressor

    kind = type(model)
    classifier = kind in (RandomForestClassifier, ExtraTreesClassifier)
    regressor = kind in (RandomForestRegressor, ExtraTreesRegressor)
    if not (classifier or regressor) or getattr(model, "n_outputs_", None) != 1:
        return None
    if classifier and (
        kind.predict is not ForestClassifier.predict
        or kind.predict_proba is not ForestClassifier.predict_proba
    ):
        return None
    if regressor and kind.predict is not ForestRegressor.predict:
        return None
    trees = list(getattr(model, "estimators_", ()))
    tree_types = _tree_types()
    if not trees or not all(type(tree) in tree_types for tree in trees):
        return None
    features = int(model.n_features_in_)
    classes = np.asarray(model.classes_) if classifier else np.empty(0)
    calls = [_tree_call(tree, classifier) for tree in trees]
    leaf_values = _leaf_values(trees, classifier)
    applies = [tree.tree_.apply for tree in trees]

    def total_of(x: np.ndarray) -> np.ndarray:
        if leaf_values is not None and len(x) <= LOOKUP_ROWS:
            values, offsets = leaf_values
            leaves = np.empty((len(applies), len(x)), dtype=np.intp)
            for row, apply in zip(leaves, applies, strict=True):
                row[:] = apply(x)
            leaves += offsets
            # added up one tree after the other, as the forest does (``sum`` may add
            # pairwise, which can differ in the last bit)
            return np.asarray(values[leaves].cumsum(axis=0)[-1])
        total = np.zeros((len(x), len(classes)) if classifier else len(x))
        for call in calls:
            total += call(x)
        return total

    def predict(rows: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(rows, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != features or not np.isfinite(x).all():
            return np.asarray(fallback(rows))  # the forest's own checks and errors
        total = total_of(x)
        total /= len(trees)
        if classifier:
            return np.asarray(classes.take(np.argmax(total, axis=1), axis=0))
        return total

    return predict


def _leaf_values(trees: list[Any], classifier: bool) -> tuple[np.ndarray, np.ndarray] | None:
    """Every tree's node values in one table, and where each tree's nodes start in it, when
    each tree's compiled values are what the forest adds up (``_own_values``); else None."""
    tables = []
    for tree in trees:
        values = _own_values(tree, classifier)
        if values is None:
            return None
        tables.append(values)
    if classifier and len({table.shape[1] for table in tables}) != 1:
        return None
    offsets = np.cumsum([0] + [len(table) for table in tables[:-1]]).astype(np.intp)
    return np.concatenate(tables), offsets.reshape(-1, 1)


def _own_values(tree: Any, classifier: bool) -> np.ndarray | None:
    """The tree's compiled node values (a classifier's class columns) when, at every leaf,
    they are what its own predict answers; else None. Some scikit-learn releases divide a
    classifier's leaf values by their sum in ``predict_proba``: exact to leave out where the
    division changes no leaf (pure leaves, proportions that sum to 1 exactly). Rows only
    ever land on leaves, so the inner nodes do not count."""
    compiled = tree.tree_
    values = np.asarray(compiled.value, dtype=np.float64)[:, 0, :]
    if not classifier:
        return np.asarray(values[:, 0])
    values = values[:, : int(tree.n_classes_)]
    leaves = values[np.asarray(compiled.children_left) == -1]
    sums = leaves.sum(axis=1, keepdims=True)
    sums[sums == 0.0] = 1.0
    return values if np.array_equal(leaves / sums, leaves) else None


def _tree_types() -> tuple[type, ...]:
    from sklearn.tree import (
        DecisionTreeClassifier,
        DecisionTreeRegressor,
        ExtraTreeClassifier,
        ExtraTreeRegressor,
    )

    return (DecisionTreeClassifier, DecisionTreeRegressor, ExtraTreeClassifier, ExtraTreeRegressor)


def _tree_call(tree: Any, classifier: bool) -> Callable[[np.ndarray], np.ndarray]:
    """What the forest adds up for one tree, on float32 rows of the right width: the tree's
    ``predict_proba`` (classifiers) or ``predict`` with ``check_input=False``, or, where it is
    the same bit for bit, its compiled ``tree_.predict`` alone. The public call checks that the
    tree is fitted (working out its tags: half of a small batch's time) and its width, and some
    scikit-learn releases divide a classifier's leaf values by their sum there (see
    ``_own_values``)."""
    compiled = tree.tree_
    if not classifier:
        return lambda x: compiled.predict(x)[:, 0]
    if _own_values(tree, classifier) is None:
        return partial(tree.predict_proba, check_input=False)
    width = int(tree.n_classes_)
    return lambda x: compiled.predict(x)[:, :width]
