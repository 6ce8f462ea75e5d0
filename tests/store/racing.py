"""Many writers doing the same thing at the same moment, a round at a time."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def race(
    writers: int, rounds: int, write: Callable[[int, int], T]
) -> tuple[list[list[T]], list[BaseException]]:
    """Run ``write(writer, round)`` on ``writers`` threads, every round started together;
    returns each writer's results by round, and the errors raised."""
    start = threading.Barrier(writers)
    results: list[list[T]] = [[] for _ in range(writers)]
    errors: list[BaseException] = []

    def run(n: int) -> None:
        for r in range(rounds):
            start.wait()
            try:
                results[n].append(write(n, r))
            except BaseException as exc:  # the caller asserts there were none
                errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors
