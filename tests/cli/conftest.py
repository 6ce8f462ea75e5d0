"""Fixtures that drive the real `evergreen` executable (helpers in ``process.py``).

- ``new_home``: a factory ``new_home(copy_of=None) -> Home``: a fresh, empty EVERGREEN_HOME in
  ``tmp_path`` (or a copy of another home) whose ``run(*args)`` runs `evergreen` against it.
- ``landing``: a factory ``landing(rows=3000, drop=()) -> Path``: a folder holding
  ``hour.csv``, the first ``rows`` hours of the bike-sharing data less the columns in ``drop``.
- ``trained`` (session): a home where `evergreen run --json` trained bike-demand version 1 on
  the first 3000 hours, with that run's JSON. Tests copy it with ``new_home(copy_of=...)`` and
  never change it.
- ``start_server``: a factory ``start_server(home, *args) -> Server`` for `serve` and `up` on a
  free port; whatever still runs at teardown is killed.
"""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from cli.process import (
    BIKE_PROJECT,
    TRAIN_ROWS,
    Home,
    Landing,
    NewHome,
    Server,
    StartServer,
    Trained,
    child_env,
    free_port,
    write_landing,
)


@pytest.fixture(scope="session")
def pycache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp() / "pycache"


@pytest.fixture
def landing(tmp_path: Path) -> Landing:
    counter = itertools.count()

    def make(rows: int = TRAIN_ROWS, drop: Sequence[str] = ()) -> Path:
        return write_landing(tmp_path / f"landing-{next(counter)}", rows, drop)

    return make


@pytest.fixture
def new_home(tmp_path: Path, pycache: Path) -> NewHome:
    counter = itertools.count()

    def make(copy_of: Path | None = None) -> Home:
        path = tmp_path / f"home-{next(counter)}"
        if copy_of is not None:
            shutil.copytree(copy_of, path)
        return Home(path, child_env(path, pycache))

    return make


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, pycache: Path) -> Trained:
    root = tmp_path_factory.mktemp("trained")
    data = write_landing(root / "landing")
    home = Home(root / "home", child_env(root / "home", pycache))
    result = home.run("run", "--project", BIKE_PROJECT, "--data", data, "--json")
    assert result.returncode == 0, result.stderr
    return Trained(home.path, data, json.loads(result.stdout))


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    started: list[Server] = []

    def start(home: Home, *args: str | Path) -> Server:
        log = tmp_path / f"{args[0]}-{len(started)}.log"
        server = Server([str(a) for a in args], home.env, log, free_port())
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()
