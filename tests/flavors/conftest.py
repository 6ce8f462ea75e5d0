"""A registry on SQLite with a local artifact store, for the flavors' round trips."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from evergreen.registry import Registry
from evergreen.store.artifacts import ArtifactStore
from evergreen.store.database import Database
from registry.support import make_registry


@pytest.fixture
def registry(
    make_db: Callable[..., Database], sqlite_url: str, artifacts: ArtifactStore
) -> Registry:
    return make_registry(make_db(sqlite_url), artifacts)
