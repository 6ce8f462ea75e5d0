from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pytest

from evergreen.errors import Unavailable
from evergreen.serving.batching import BatchingSpec, MicroBatcher
from evergreen.serving.frames import numeric_block, stack_frames
from evergreen.serving.in_flight import InFlight

from .delays import take

T = TypeVar("T")


class Recorder:
    """A model that doubles column x, remembers each call's size, and takes ``delay`` seconds:
    asleep, or with ``spin`` computing (a model is as slow as the CPU its predicts take)."""

    def __init__(self, delay: float = 0.0, *, spin: bool = False) -> None:
        self.delay = delay
        self.spin = spin
        self.calls: list[int] = []
        self.threads: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        with self.lock:
            self.calls.append(len(frame))
            self.threads.append(threading.current_thread().name)
        take(self.delay, spin=self.spin)
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


def test_a_thread_batch_that_one_more_request_would_overflow_does_not_wait() -> None:
    model = Recorder()
    spec = BatchingSpec(
        max_batch_rows=5, max_wait=2.0, latency_target=2.0, inline_under=0.0, loop_under=0.0
    )
    batcher = MicroBatcher(model, spec, name="t")
    started = time.perf_counter()
    futures = [batcher.submit(frame(1.0, 2.0)) for _ in range(2)]
    assert [f.result().tolist() for f in futures] == [[2.0, 4.0], [2.0, 4.0]]
    # four rows queued and the next request of two would make six: no wait for company
    assert time.perf_counter() - started < 1.0
    assert model.calls == [4]
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


def test_a_lone_request_to_a_fast_model_is_predicted_on_the_event_loop() -> None:
    model = Recorder()
    batcher = MicroBatcher(model, BatchingSpec(max_batch_rows=64, inline_under=1.0), name="fast")
    seen: list[tuple[int, int]] = []
    batcher.observer = lambda requests, rows, _s: seen.append((requests, rows))

    async def one_at_a_time() -> list[float]:
        outputs = [await batcher.predict_async(frame(float(i)), alone=True) for i in range(4)]
        return [float(o[0]) for o in outputs]

    assert asyncio.run(one_at_a_time()) == [0.0, 2.0, 4.0, 6.0]
    # the first is measured by the worker; the model is fast enough, so the rest skip the
    # hand-off, even though each caller resumes as soon as the worker answered it
    assert model.threads[0] == "evergreen-batch-fast"
    assert model.threads[1:] == [threading.main_thread().name] * 3
    assert seen == [(1, 1)] * 4  # inline predicts are observed like batches
    batcher.close()


def test_requests_that_are_not_alone_are_batched_by_the_worker() -> None:
    model = Recorder(delay=0.005, spin=True)
    batcher = MicroBatcher(model, BatchingSpec(max_batch_rows=64, inline_under=1.0), name="b")

    async def together() -> list[np.ndarray]:
        await batcher.predict_async(frame(0.0), alone=True)  # measured: fast enough for inline
        return await asyncio.gather(*(batcher.predict_async(frame(float(i))) for i in range(20)))

    results = asyncio.run(together())
    assert [float(r[0]) for r in results] == [2.0 * i for i in range(20)]
    assert threading.main_thread().name not in model.threads
    assert len(model.calls) < 1 + 20  # grouped
    batcher.close()


def test_a_slow_model_or_inline_under_0_always_uses_the_worker() -> None:
    for model, spec in [
        (Recorder(delay=0.01, spin=True), BatchingSpec(max_batch_rows=64, inline_under=0.002)),
        (Recorder(), BatchingSpec(max_batch_rows=64, inline_under=0.0, loop_under=0.0)),
    ]:
        batcher = MicroBatcher(model, spec, name="w")

        async def one_at_a_time(batcher: MicroBatcher = batcher) -> None:
            for i in range(3):
                await batcher.predict_async(frame(float(i)), alone=True)

        asyncio.run(one_at_a_time())
        assert model.threads == ["evergreen-batch-w"] * 3
        batcher.close()


def test_an_inline_predict_that_fails_raises_to_its_caller_only() -> None:
    model = Recorder()
    batcher = MicroBatcher(model, BatchingSpec(max_batch_rows=64, inline_under=1.0), name="f")

    async def run() -> float:
        await batcher.predict_async(frame(1.0), alone=True)
        with pytest.raises(ValueError, match="negative x"):
            await batcher.predict_async(frame(-1.0), alone=True)
        return float((await batcher.predict_async(frame(3.0), alone=True))[0])

    assert asyncio.run(run()) == 6.0
    assert model.threads[1] == threading.main_thread().name  # the failing one ran inline
    batcher.close()


def test_stack_frames_matches_pandas_concat() -> None:
    columns = pd.Index(["a", "b"])
    floats = [pd.DataFrame(np.full((n, 2), float(n)), columns=columns) for n in (1, 3, 2)]
    stacked = stack_frames(floats)
    pd.testing.assert_frame_equal(stacked, pd.concat(floats, ignore_index=True))
    assert stacked.columns is columns
    blocks = [numeric_block(f) for f in floats]  # as the prediction log keeps them
    pd.testing.assert_frame_equal(stack_frames(floats, blocks), stacked)
    assert numeric_block(pd.DataFrame({"a": [1], "b": [0.5]})) is None  # two dtypes
    assert numeric_block(pd.DataFrame({"a": ["x"]})) is None
    mixed = [pd.DataFrame({"a": [1], "b": [0.5]}), pd.DataFrame({"a": [2], "b": [1.5]})]
    kept = stack_frames(mixed)  # one column int, one float: their dtypes are kept
    pd.testing.assert_frame_equal(kept, pd.concat(mixed, ignore_index=True))
    assert kept["a"].dtype == np.int64
    reordered = [pd.DataFrame({"a": [1.0], "b": [2.0]}), pd.DataFrame({"b": [4.0], "a": [3.0]})]
    pd.testing.assert_frame_equal(
        stack_frames(reordered), pd.DataFrame({"a": [1.0, 3.0], "b": [2.0, 4.0]})
    )
    text = [pd.DataFrame({"a": ["x"]}), pd.DataFrame({"a": ["y"]})]
    pd.testing.assert_frame_equal(stack_frames(text), pd.DataFrame({"a": ["x", "y"]}))
    ints = [pd.DataFrame({"a": [1]}), pd.DataFrame({"a": [2.5]})]  # int64 then float64
    pd.testing.assert_frame_equal(stack_frames(ints), pd.DataFrame({"a": [1.0, 2.5]}))


def test_a_failing_observer_does_not_stop_the_worker() -> None:
    def observer(_requests: int, _rows: int, _seconds: float) -> None:
        raise RuntimeError("metrics are down")

    batcher = MicroBatcher(Recorder(), BatchingSpec(max_batch_rows=64), observer=observer)
    answers = [float(batcher.submit(frame(float(i))).result(timeout=5)[0]) for i in range(3)]
    assert answers == [0.0, 2.0, 4.0]  # each answered before the observer failed, none hangs
    batcher.close()


class Outcomes:
    """Collects what ``submit_group`` hands its callback, and on which thread."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[np.ndarray | BaseException], str]] = []
        self.done = threading.Event()

    def __call__(self, outcomes: list[np.ndarray | BaseException]) -> None:
        self.calls.append((outcomes, threading.current_thread().name))
        self.done.set()


def test_a_group_is_predicted_in_one_call_and_answered_once_in_order() -> None:
    model = Recorder(delay=0.05)
    batcher = MicroBatcher(model, BatchingSpec(max_batch_rows=64), name="g")
    batcher.submit(frame(100.0))  # keeps the worker busy while the group is queued
    deadline = time.monotonic() + 5
    while not model.calls and time.monotonic() < deadline:
        time.sleep(0.001)
    got = Outcomes()
    batcher.submit_group([frame(float(i), float(i) + 0.5) for i in range(5)], got)
    assert got.done.wait(5)
    batcher.close()
    ((outcomes, thread),) = got.calls
    assert thread == "evergreen-batch-g"
    for i, outcome in enumerate(outcomes):
        np.testing.assert_allclose(outcome, [2 * i, 2 * i + 1])  # type: ignore[arg-type]
    assert model.calls == [1, 10]  # the five requests in one call


def test_a_request_the_model_refuses_fails_alone_in_its_group() -> None:
    batcher = MicroBatcher(Recorder(), BatchingSpec(max_batch_rows=64))
    got = Outcomes()
    batcher.submit_group([frame(1.0), frame(-1.0), frame(3.0)], got)
    assert got.done.wait(5)
    batcher.close()
    ((outcomes, _),) = got.calls
    assert isinstance(outcomes[1], ValueError) and "negative x" in str(outcomes[1])
    np.testing.assert_allclose(outcomes[0], [2.0])  # type: ignore[arg-type]
    np.testing.assert_allclose(outcomes[2], [6.0])  # type: ignore[arg-type]


def test_a_group_larger_than_a_batch_is_answered_once_all_is_predicted() -> None:
    model = Recorder()
    batcher = MicroBatcher(model, BatchingSpec(max_batch_rows=4))
    got = Outcomes()
    batcher.submit_group([frame(float(i)) for i in range(10)], got)
    assert got.done.wait(5)
    batcher.close()
    ((outcomes, _),) = got.calls
    assert [float(o[0]) for o in outcomes] == [2.0 * i for i in range(10)]  # type: ignore[index]
    assert max(model.calls) <= 4 and sum(model.calls) == 10


def test_a_group_callback_that_raises_does_not_stop_the_worker() -> None:
    def broken(_outcomes: list[np.ndarray | BaseException]) -> None:
        raise RuntimeError("the callback is broken")

    batcher = MicroBatcher(Recorder(), BatchingSpec(max_batch_rows=64))
    batcher.submit_group([frame(1.0)], broken)
    assert float(batcher.submit(frame(2.0)).result(timeout=5)[0]) == 4.0
    batcher.close()


def test_a_closed_batcher_refuses_a_group() -> None:
    batcher = MicroBatcher(Recorder(), BatchingSpec(max_batch_rows=64))
    batcher.close()
    with pytest.raises(Unavailable, match="no longer served"):
        batcher.submit_group([frame(1.0)], Outcomes())


def test_requests_that_arrive_together_for_a_fast_model_are_batched_on_the_event_loop() -> None:
    model = Recorder()
    batcher = MicroBatcher(model, BatchingSpec(max_batch_rows=64, loop_under=1.0), name="l")
    seen: list[tuple[int, int]] = []
    batcher.observer = lambda requests, rows, _s: seen.append((requests, rows))

    async def together() -> list[np.ndarray]:
        await batcher.predict_async(frame(0.0))  # measured by the worker: fast
        return await asyncio.gather(
            *(batcher.predict_async(frame(float(i), float(i) + 0.5)) for i in range(20))
        )

    results = asyncio.run(together())
    for i, result in enumerate(results):
        np.testing.assert_allclose(result, [2 * i, 2 * i + 1])
    assert model.threads == ["evergreen-batch-l", threading.main_thread().name]
    assert model.calls == [1, 40]  # the twenty requests in one call, on the loop
    assert seen == [(1, 1), (20, 40)]
    batcher.close()


def run_on(loop_kind: str, main: Coroutine[Any, Any, T]) -> T:
    """``main`` on asyncio's own loop or on uvloop's (the gateway's, where it installs)."""
    if loop_kind == "asyncio":
        return asyncio.run(main)
    uvloop = pytest.importorskip("uvloop")
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


LOOPS = pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])


@LOOPS
def test_max_wait_gathers_a_loop_batch_over_several_turns(loop_kind: str) -> None:
    model = Recorder()
    spec = BatchingSpec(max_batch_rows=64, max_wait=0.2, loop_under=1.0)
    batcher = MicroBatcher(model, spec, name="w")

    async def staggered(count: int) -> list[np.ndarray]:
        async def one(i: int) -> np.ndarray:
            await asyncio.sleep(0.01 * i)  # each on a later turn of the loop
            return await batcher.predict_async(frame(float(i)))

        return await asyncio.gather(*(one(i) for i in range(count)))

    async def main() -> None:
        await batcher.predict_async(frame(0.0))  # measured by the worker: fast
        await asyncio.gather(*(batcher.predict_async(frame(1.0)) for _ in range(2)))
        assert model.calls == [1, 2]  # the last batch held one request: no wait
        results = await staggered(5)  # the last batch held two: they arrive together
        assert [float(r[0]) for r in results] == [0.0, 2.0, 4.0, 6.0, 8.0]
        assert model.calls == [1, 2, 5]  # 40 ms of arrivals, one call

    run_on(loop_kind, main())
    batcher.close()


@LOOPS
@pytest.mark.parametrize("max_rows", [4, 5], ids=["full", "one-more-would-not-fit"])
def test_a_full_loop_batch_does_not_wait_out_max_wait(loop_kind: str, max_rows: int) -> None:
    model = Recorder()
    spec = BatchingSpec(max_batch_rows=max_rows, max_wait=2.0, latency_target=2.0, loop_under=1.0)
    batcher = MicroBatcher(model, spec, name="f")

    async def main() -> float:
        await batcher.predict_async(frame(0.0))  # the worker's first batch waits its 2 s
        await asyncio.gather(*(batcher.predict_async(frame(1.0)) for _ in range(2)))
        started = time.perf_counter()
        await asyncio.gather(*(batcher.predict_async(frame(1.0, 2.0)) for _ in range(2)))
        return time.perf_counter() - started

    # four rows (and with five a call, two more would not fit): at once, not after 2 s
    assert run_on(loop_kind, main()) < 1.0
    assert model.calls == [1, 2, 4]
    batcher.close()


@LOOPS
def test_a_loop_batch_goes_once_every_request_in_flight_waits_in_one(loop_kind: str) -> None:
    first, second = Recorder(), Recorder()  # two versions, as in an A/B test
    spec = BatchingSpec(max_batch_rows=64, max_wait=2.0, latency_target=2.0, loop_under=1.0)
    batchers = [MicroBatcher(m, spec, name=n) for m, n in ((first, "a"), (second, "b"))]
    in_flight = InFlight()

    async def request(batcher: MicroBatcher, value: float) -> np.ndarray:
        in_flight.count += 1  # as the gateway's middleware counts it
        try:
            return await batcher.predict_async(frame(value), in_flight=in_flight)
        finally:
            in_flight.count -= 1

    async def main() -> float:
        for batcher in batchers:  # measured (the worker's first batch waits its 2 s), then
            await batcher.predict_async(frame(0.0))  # two requests that arrive together
            await asyncio.gather(*(batcher.predict_async(frame(1.0)) for _ in range(2)))
        started = time.perf_counter()
        other = asyncio.create_task(asyncio.sleep(0.3))  # in flight, not waiting in a batch
        in_flight.count += 1
        answers = asyncio.gather(*(request(batchers[i % 2], float(i)) for i in range(6)))
        await asyncio.sleep(0.1)
        assert first.calls == [1, 2] and in_flight.parked == 6  # waiting for company
        await other
        in_flight.count -= 1
        assert in_flight.parked == 6  # one more arrives: now all in flight wait
        late = await request(batchers[0], 6.0)
        assert [float(v[0]) for v in await answers] == [2.0 * i for i in range(6)]
        assert float(late[0]) == 12.0
        return time.perf_counter() - started

    assert run_on(loop_kind, main()) < 1.5  # not the 2 s wait
    assert first.calls == [1, 2, 4] and second.calls == [1, 2, 3]  # both went at once
    assert in_flight.parked == 0
    for batcher in batchers:
        batcher.close()


def test_a_loop_batch_keeps_to_max_rows_and_a_bad_request_fails_alone() -> None:
    model = Recorder()
    batcher = MicroBatcher(model, BatchingSpec(max_batch_rows=4, loop_under=1.0))

    async def together() -> list[np.ndarray | BaseException]:
        await batcher.predict_async(frame(0.0))
        values = [float(i) if i != 6 else -1.0 for i in range(10)]
        calls = (batcher.predict_async(frame(v)) for v in values)
        return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(together())
    assert isinstance(results[6], ValueError) and "negative x" in str(results[6])
    assert [float(r[0]) for i, r in enumerate(results) if i != 6] == [  # type: ignore[index]
        2.0 * i for i in range(10) if i != 6
    ]
    batched = model.calls[1:]
    # 4 rows a call; the second call holds the -1, fails, and is retried a request at a time
    assert batched == [4, 4, 1, 1, 1, 1, 2]
    assert set(model.threads[1:]) == {threading.main_thread().name}
    batcher.close()


def test_a_worker_predict_that_waits_without_computing_counts_as_fast() -> None:
    """On the worker thread a predict is measured by its CPU: time spent waiting (for Python's
    lock, held by a busy event loop; here asleep) does not keep a fast model off the loop."""
    model = Recorder(delay=0.01)  # 10 ms asleep, well over loop_under, next to no CPU
    batcher = MicroBatcher(model, BatchingSpec(max_batch_rows=64, loop_under=0.002), name="w")

    async def together() -> None:
        await batcher.predict_async(frame(0.0))
        await asyncio.gather(*(batcher.predict_async(frame(float(i))) for i in range(10)))

    asyncio.run(together())
    assert model.threads == ["evergreen-batch-w", threading.main_thread().name]
    assert model.calls == [1, 10]
    batcher.close()


def test_a_model_slower_than_loop_under_is_batched_by_the_worker() -> None:
    model = Recorder(delay=0.01, spin=True)
    batcher = MicroBatcher(model, BatchingSpec(max_batch_rows=64, loop_under=0.002), name="s")

    async def together() -> None:
        await batcher.predict_async(frame(0.0))
        await asyncio.gather(*(batcher.predict_async(frame(float(i))) for i in range(10)))

    asyncio.run(together())
    assert set(model.threads) == {"evergreen-batch-s"}
    batcher.close()


def test_a_group_for_a_fast_model_is_predicted_on_the_event_loop() -> None:
    model = Recorder()
    batcher = MicroBatcher(model, BatchingSpec(max_batch_rows=4, loop_under=1.0), name="q")
    got = Outcomes()

    async def run() -> None:
        await batcher.predict_async(frame(0.0))  # measured by the worker: fast
        batcher.submit_group([frame(float(i)) for i in range(6)], got)
        assert got.calls == []  # on the loop's next turn, not inside the call
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    asyncio.run(run())
    batcher.close()
    ((outcomes, thread),) = got.calls
    assert thread == threading.main_thread().name
    assert [float(o[0]) for o in outcomes] == [2.0 * i for i in range(6)]  # type: ignore[index]
    assert model.calls == [1, 4, 2]  # max_batch_rows still holds


class Overlap:
    """Slow predicts that record how many ran at once, across every batcher they serve."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.running = 0
        self.most = 0
        self.calls: dict[str, list[int]] = {}
        self.lock = threading.Lock()

    def model(self, name: str) -> Recorder:
        overlap = self

        class Model(Recorder):
            def __call__(self, frame: pd.DataFrame) -> np.ndarray:
                with overlap.lock:
                    overlap.running += 1
                    overlap.most = max(overlap.most, overlap.running)
                    overlap.calls.setdefault(name, []).append(len(frame))
                time.sleep(overlap.delay)
                with overlap.lock:
                    overlap.running -= 1
                return frame["x"].to_numpy() * 2.0

        return Model()


def run_two_versions(lane: threading.Lock | None) -> Overlap:
    """Two versions' batchers under load from 16 threads each, sharing ``lane`` or not."""
    overlap = Overlap(delay=0.02)
    spec = BatchingSpec(max_batch_rows=256, inline_under=0.0, loop_under=0.0)
    batchers = [MicroBatcher(overlap.model(v), spec, name=v, lane=lane) for v in ("v1", "v2")]
    with ThreadPoolExecutor(32) as pool:
        futures = [
            pool.submit(lambda i=i: batchers[i % 2].submit(frame(float(i))).result())
            for i in range(320)
        ]
        results = [f.result() for f in futures]
    for batcher in batchers:
        batcher.close()
    assert [r[0] for r in results] == [2.0 * i for i in range(320)]
    return overlap


def test_versions_sharing_a_lane_take_turns() -> None:
    apart = run_two_versions(lane=None)
    assert apart.most == 2  # without a lane both versions predict at once
    shared = run_two_versions(lane=threading.Lock())
    assert shared.most == 1  # one predict at a time


@pytest.mark.parametrize("shared", [True, False])
def test_requests_queued_while_another_version_predicts_go_in_one_call(shared: bool) -> None:
    overlap = Overlap(delay=0.3)
    spec = BatchingSpec(max_batch_rows=256, inline_under=0.0, loop_under=0.0)
    lane = threading.Lock() if shared else None
    first, second = (MicroBatcher(overlap.model(v), spec, name=v, lane=lane) for v in ("v1", "v2"))
    busy = first.submit(frame(1.0))  # v1 predicts for 0.3 s
    time.sleep(0.05)
    waiting = []
    for i in range(10):
        waiting.append(second.submit(frame(float(i))))
        time.sleep(0.01)
    assert [f.result()[0] for f in waiting] == [2.0 * i for i in range(10)]
    busy.result()
    first.close()
    second.close()
    if shared:  # v2 waited for the lane, then took all ten at once
        assert overlap.calls["v2"] == [10]
    else:  # v2 predicted its first request at once, the rest after it
        assert overlap.calls["v2"][0] == 1 and len(overlap.calls["v2"]) >= 2
