"""Fixtures for the search and executor tests.

- ``ray_instance`` (session): a real local Ray instance (2 CPUs, no dashboard), started on the
  first test that asks for it and shut down at the end of the run. Its workers inherit this
  process's environment (``PYTHONPATH`` included), so they import the same evergreen.
- ``executor``: parametrized ``inline`` / ``process`` / ``ray``: a fresh executor with two
  workers (the Ray one joins ``ray_instance``), closed after the test.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from evergreen.training.executors import Executor, make_executor

EXECUTORS = ["inline", "process", "ray"]


@pytest.fixture(scope="session")
def ray_instance() -> Iterator[Any]:
    import ray

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        logging_level=logging.WARNING,
        log_to_driver=False,
        object_store_memory=200 * 1024**2,
    )
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture(params=EXECUTORS, ids=EXECUTORS)
def executor(request: pytest.FixtureRequest) -> Iterator[Executor]:
    if request.param == "ray":
        request.getfixturevalue("ray_instance")
    with make_executor(request.param, workers=2) as ex:
        yield ex
