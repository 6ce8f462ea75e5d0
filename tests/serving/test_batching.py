from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from evergreen.errors import Unavailable
from evergreen.serving.batching import BatchingSpec, MicroBatcher


class Recorder:
    """A model that doubles column x, remembers each call's size, and takes ``delay`` seconds."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.calls: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        with self.lock:
            self.calls.append(len(frame))
        time.sleep(self.delay)
        if (frame["x"] < 0).any():
            raise ValueError("negative x")
        return frame["x"].to_numpy() * 2.0


def frame(*values: float) -> pd.DataFrame:
    return pd.DataFrame({"x": list(values)})


def test_concurrent_requests_share_calls_and_get_their_own_rows() -> None:
    model = Recorder(delay=0.02)
    batcher = MicroBatcher(model, BatchingSpec(max_batch_rows=64))
    with ThreadPoolExecutor(32) as pool:
        futures = [
            pool.submit(lambda i=i: batcher.submit(frame(i, i + 0.5)).result()) for i in range(96)
        ]
        results = [f.result() for f in futures]
    batcher.close()
    for i, result in enumerate(results):
        np.testing.assert_allclose(result, [2 * i, 2 * i + 1])
    assert sum(model.calls) == 192
    assert len(model.calls) < 96 / 2  # requests were grouped
    assert max(model.calls) <= 64


def test_a_lone_request_does_not_wait() -> None:
    batcher = MicroBatcher(
        Recorder(), BatchingSpec(max_batch_rows=64, max_wait=0.5, latency_target=0.01)
    )
    started = time.perf_counter()
    np.testing.assert_allclose(batcher.submit(frame(1.0)).result(), [2.0])
    assert time.perf_counter() - started < 0.2  # the latency target bounds max_wait
    batcher.close()


def test_max_wait_gathers_requests_that_arrive_close_together() -> None:
    model = Recorder()
    batcher = MicroBatcher(model, BatchingSpec(max_batch_rows=64, max_wait=0.2, latency_target=1.0))
    futures = []
    for i in range(5):
        futures.append(batcher.submit(frame(float(i))))
        time.sleep(0.01)
    assert [f.result()[0] for f in futures] == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert model.calls == [5]
    batcher.close()


def test_a_bad_request_fails_alone_when_its_batch_fails() -> None:
    model = Recorder(delay=0.05)
    batcher = MicroBatcher(model, BatchingSpec(max_batch_rows=64))
    blocker = batcher.submit(frame(1.0))  # keeps the worker busy while the others queue
    good = batcher.submit(frame(2.0))
    bad = batcher.submit(frame(-1.0))
    assert blocker.result()[0] == 2.0
    assert good.result()[0] == 4.0
    with pytest.raises(ValueError, match="negative x"):
        bad.result()
    batcher.close()


def test_queue_limit_and_closed_batcher_refuse_with_unavailable() -> None:
    batcher = MicroBatcher(Recorder(delay=0.2), BatchingSpec(max_batch_rows=4, max_queue_rows=3))
    first = batcher.submit(frame(1.0))
    time.sleep(0.05)  # the worker holds the first request; the queue is empty again
    batcher.submit(frame(1.0, 2.0, 3.0))
    with pytest.raises(Unavailable, match="overloaded"):
        batcher.submit(frame(4.0))
    first.result()
    batcher.close()
    with pytest.raises(Unavailable, match="no longer served"):
        batcher.submit(frame(1.0))


def test_batches_are_reported_to_the_observer() -> None:
    seen: list[tuple[int, int]] = []
    batcher = MicroBatcher(
        Recorder(delay=0.02),
        BatchingSpec(max_batch_rows=64),
        observer=lambda requests, rows, _s: seen.append((requests, rows)),
    )
    futures = [batcher.submit(frame(1.0, 2.0)) for _ in range(10)]
    for f in futures:
        f.result()
    batcher.close()
    assert sum(r for r, _ in seen) == 10 and sum(rows for _, rows in seen) == 20
