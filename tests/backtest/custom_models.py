"""A model factory for ``--model module:callable`` tests (imported by name)."""

from __future__ import annotations

from typing import Any

from sklearn.tree import DecisionTreeClassifier


def shallow_tree() -> Any:
    return DecisionTreeClassifier(max_depth=3, random_state=0)


NOT_CALLABLE = 3
