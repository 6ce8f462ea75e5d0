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
so it counts when an A/B split halves the batches). Most of that is the hundred calls, not the
trees: ``_one_tree`` puts every tree's nodes into one compiled tree, under a few routing nodes
that send each row's copy for tree *k* to tree *k*'s root by an extra column holding *k*, and
one ``apply`` of that tree to the rows copied once per tree finds every tree's leaf for every
row, for batches of up to ``ONE_TREE_ROWS`` rows: 0.04 ms for one row instead of 0.25 (a
100-tree forest, 30 columns). Each row takes the same branches in its tree as in the forest's
own, compared the same way, so the leaves are the same; the tree is checked against each
tree's own ``apply`` when it is put together, and not used where they differ. It is a second
copy of the trees' nodes, so a forest whose nodes take more than ``MAX_JOINED_BYTES`` is not
joined.

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
# Up to this many rows, every tree's leaves by one call of one tree holding them all; beyond
# it, copying the rows once per tree and the lookup cost more than the calls they save (a
# 100-tree forest: as fast at 64 rows, 1.2x slower at 200, 1.5x at 400; in a gateway batching
# 100-row requests, 0.75x the throughput).
ONE_TREE_ROWS = 64
# The rows' copies for one call of that tree take at most this many bytes (at least one tree's
# rows), so that a wide forest's copies stay in the core's cache and memory stays bounded.
COPY_BYTES = 256 * 1024
# The joined tree is a second copy of every tree's nodes (64 bytes each: 5 MB for the 100-tree
# forest of the serving benchmark); a forest whose nodes take more is not joined.
MAX_JOINED_BYTES = 1024 * 1024 * 1024


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
    leaves_of: Callable[[np.ndarray], np.ndarray] = partial(_each_tree_leaves, trees)
    lookup_rows = LOOKUP_ROWS
    if leaf_values is not None:
        one_tree = _one_tree(trees, features)
        if one_tree is not None:
            leaves_of, lookup_rows = one_tree, ONE_TREE_ROWS

    def total_of(x: np.ndarray) -> np.ndarray:
        if leaf_values is not None and len(x) <= lookup_rows:
            values, offsets = leaf_values
            leaves = leaves_of(x)
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


def _each_tree_leaves(trees: list[Any], x: np.ndarray) -> np.ndarray:
    """Each tree's leaf for each row (an array of trees by rows), numbered within its own
    tree: one call a tree."""
    leaves = np.empty((len(trees), len(x)), dtype=np.intp)
    for row, tree in zip(leaves, trees, strict=True):
        row[:] = tree.tree_.apply(x)
    return leaves


def _one_tree(trees: list[Any], features: int) -> Callable[[np.ndarray], np.ndarray] | None:
    """What ``_each_tree_leaves`` finds, by one call of one compiled tree holding every tree's
    nodes (see the module's docstring), or None where scikit-learn's compiled trees cannot
    be put together that way or the result differs from each tree's own leaves."""
    from sklearn.tree._tree import Tree

    count = len(trees)
    try:
        states = [tree.tree_.__getstate__() for tree in trees]
        sizes = [int(state["node_count"]) for state in states]
        routing = count - 1  # a balanced binary tree over the trees has count - 1 inner nodes
        starts = routing + np.cumsum([0, *sizes[:-1]])
        dtype = states[0]["nodes"].dtype
        if (routing + sum(sizes)) * dtype.itemsize > MAX_JOINED_BYTES:
            return None
        nodes = np.zeros(routing + sum(sizes), dtype=dtype)
        if _route(nodes, 0, count, starts, features) != (0, routing):
            return None
        for start, size, state in zip(starts, sizes, states, strict=True):
            part = np.array(state["nodes"], dtype=nodes.dtype)
            inner = part["left_child"] != -1  # a leaf's children are -1
            part["left_child"][inner] += start
            part["right_child"][inner] += start
            nodes[start : start + size] = part
        depth = max(int(state["max_depth"]) for state in states) + int(count).bit_length()
        joined = Tree(features + 1, np.ones(1, dtype=np.intp), 1)
        joined.__setstate__(
            {
                "max_depth": depth,
                "node_count": len(nodes),
                "nodes": nodes,
                "values": np.zeros((len(nodes), 1, 1)),
            }
        )
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    which = np.arange(count, dtype=np.float32).reshape(-1, 1)
    firsts = starts.reshape(-1, 1)

    def leaves(x: np.ndarray) -> np.ndarray:
        rows = len(x)
        # the copies for as many trees a call as fit in COPY_BYTES (at least one tree)
        per_call = max(1, min(count, COPY_BYTES // max(1, rows * (features + 1) * 4)))
        copies = np.empty((per_call, rows, features + 1), dtype=np.float32)
        copies[:, :, :features] = x  # once: each call only rewrites the trees' numbers
        found = np.empty((count, rows), dtype=np.intp)
        for first in range(0, count, per_call):
            last = min(count, first + per_call)
            part = copies[: last - first]
            part[:, :, features] = which[first:last]
            found[first:last] = joined.apply(part.reshape(-1, features + 1)).reshape(
                last - first, rows
            )
        found -= firsts
        return found

    probe = _probe_rows(trees, features)
    return leaves if np.array_equal(leaves(probe), _each_tree_leaves(trees, probe)) else None


def _route(
    nodes: np.ndarray, first: int, last: int, starts: np.ndarray, column: int, free: int = 0
) -> tuple[int, int]:
    """Fill in the routing nodes for trees ``first`` to ``last`` (exclusive) from node number
    ``free`` on, depth first: at each, a row whose ``column`` is under the middle tree's
    number goes left. Returns the number of their top node (a tree's root for one tree) and
    the next free number."""
    if last - first == 1:
        return int(starts[first]), free
    node, middle = free, (first + last) // 2
    left, free = _route(nodes, first, middle, starts, column, free + 1)
    right, free = _route(nodes, middle, last, starts, column, free)
    nodes["left_child"][node] = left
    nodes["right_child"][node] = right
    nodes["feature"][node] = column
    nodes["threshold"][node] = middle - 0.5
    return node, free


def _probe_rows(trees: list[Any], features: int) -> np.ndarray:
    """Rows that take many branches: for each column, spread over the thresholds the trees
    compare it with."""
    thresholds: list[list[float]] = [[] for _ in range(features)]
    for tree in trees[:10]:
        compiled = tree.tree_
        for feature, threshold in zip(compiled.feature, compiled.threshold, strict=True):
            if feature >= 0 and np.isfinite(threshold):  # inf: missing values to one side
                thresholds[feature].append(float(threshold))
    shares = np.linspace(0.0, 1.0, 9)
    columns = [np.quantile(seen, shares) if seen else np.zeros(9) for seen in thresholds]
    return np.ascontiguousarray(np.column_stack(columns), dtype=np.float32)


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
