"""Fixtures for driving the real `evergreen` executable from the data tests (helpers in
``tests/cli/process.py``).

- ``home``: a fresh, empty EVERGREEN_HOME in ``tmp_path`` whose ``run(*args)`` runs
  `evergreen` against it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.process import Home, child_env


@pytest.fixture
def home(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Home:
    path = tmp_path / "home"
    return Home(path, child_env(path, tmp_path_factory.getbasetemp() / "pycache"))
