"""Fixtures of the registry tests: a registry with the model ``bikes``, and ``register``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sklearn.linear_model import LinearRegression

from evergreen.registry import Registry
from evergreen.store.artifacts import ArtifactStore
from evergreen.store.database import Database
from registry.support import EVIDENCE, fit, make_registry, signature


@pytest.fixture
def registry(db: Database, artifacts: ArtifactStore) -> Registry:
    registry = make_registry(db, artifacts)
    registry.ensure_model("bikes", task="regression", target="cnt", actor="alice")
    return registry


@pytest.fixture
def register(registry: Registry) -> Callable[..., Any]:
    """Register a model (by default one fitted on every row) as the next version of ``bikes``."""

    def register(model: LinearRegression | None = None, **fields: Any) -> Any:
        model = model or fit()
        sig = signature()
        fields = {**EVIDENCE, **fields}
        return registry.register(
            "bikes", model, flavor="sklearn", signature=sig, actor="alice", **fields
        )

    return register
