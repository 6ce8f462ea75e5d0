"""Adaptive micro-batching: requests for one model version that arrive together are predicted
in one call.

Each batcher has one worker thread. A request joins a queue and waits on a future; the worker
takes everything queued (up to ``max_batch_rows`` rows), predicts once, and hands each request
its slice of the outputs. Batches form on their own while a prediction runs, so a lone request
never waits; ``max_wait`` lets the worker wait a little longer for company when the queue is
short, but never longer than the ``latency_target`` leaves after the predict time it has seen,
only while requests arrive together (the last batch held more than one): one client sending
one request at a time never waits; and only while another request of the newest one's rows
would still fit under ``max_batch_rows`` (ten 100-row requests make a full batch of 1024 rows).

A request that is the only one in flight (the caller says so: ``alone``) and finds the batcher
idle (nothing queued, nothing predicting, the last batch a lone request), for a model whose
predict has taken at most ``inline_under``, is predicted at once on the caller's thread, the
event loop: two thread hand-offs cost more than such a predict.

Requests that arrive together, for a model whose predicts have taken at most ``loop_under`` on
average (ONNX Runtime on small batches: tens of microseconds), are batched on the event loop
instead of the worker thread: each joins a list, and one callback, run once the loop has
started every request that arrived with it, predicts them all in one call and answers each.
For such a model the worker's hand-offs (a future, a wake-up, the loop woken from the thread)
and the worker holding Python's lock between requests cost more than the predict, and each
variant of an A/B test added its own worker to trade the lock with. A slower model, or one
not measured yet, is batched by the worker thread. What a predict on the worker thread costs is
its CPU time, not its wall time: a busy event loop holds Python's lock while the worker waits
for it between a forest's trees, and measured by the clock, the forest's thread batches took
several times their CPU, stayed over ``loop_under`` and kept the model on the thread for good
(one worker, 64 clients: an A/B test of two forests at 0.6-0.7x of one version in some gateway
processes, 1.0x in others).

``max_batch_rows`` (1024 by default) caps a call. A forest's cost per row falls as its batches
grow (the upper nodes of its trees are read once for many rows: 7 us a row for 200 rows, 5 us
for 400), and a cap of 256 rows held 100-row requests to two a call: with 1024, one worker
serves a 100-tree forest 1.2x faster, and the versions of its A/B test take all they queued in
their turn (below).

Workers may share a ``lane`` (the loader gives the versions of one model one lane): a worker
holds it while it predicts, so the versions of an A/B test or a shadow take turns rather than
split the process's time between them, and what queued for one version while another predicted
goes in its next call. For a model whose call costs much whatever its rows, two versions
predicting at once made twice the calls for the same requests (an A/B test of scikit-learn's
forests, each call ~5 ms: 15-20% more throughput with the lane). Requests predicted on the
event loop (inline, or batched there) never wait for a lane.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Protocol, cast

import numpy as np
import pandas as pd

from evergreen.errors import Unavailable
from evergreen.serving.frames import stack_frames
from evergreen.serving.in_flight import InFlight

log = logging.getLogger(__name__)

Predict = Callable[[pd.DataFrame], np.ndarray]


@dataclass(frozen=True)
class BatchingSpec:
    """How requests are grouped; ``max_batch_rows=1`` turns batching off."""

    max_batch_rows: int = 1024
    max_wait: float = 0.0
    latency_target: float = 0.050
    max_queue_rows: int = 100_000
    inline_under: float = 0.020  # 0: lone requests go through the worker thread too
    loop_under: float = 0.002  # batches this fast are predicted on the event loop (0: never)

    @property
    def enabled(self) -> bool:
        return self.max_batch_rows > 1


def _full(rows: int, newest: int, spec: BatchingSpec) -> bool:
    """Whether a batch of ``rows`` rows, the newest request ``newest`` rows, is full: another
    request of that size would not fit in one call, so waiting for company gains nothing."""
    return rows + max(newest, 1) > spec.max_batch_rows


Outcome = np.ndarray | BaseException


class _Answer(Protocol):
    """Where a queued request's outcome goes: a ``Future``, or a ``_Slot`` of a group."""

    def set_running_or_notify_cancel(self) -> bool: ...
    def done(self) -> bool: ...
    def set_result(self, result: np.ndarray) -> None: ...
    def set_exception(self, exception: BaseException) -> None: ...


class _Group:
    """Requests queued together whose outcomes are wanted together (``submit_group``)."""

    def __init__(self, size: int, done: Callable[[list[Outcome]], None]) -> None:
        self.outcomes: list[Outcome | None] = [None] * size
        self.left = size
        self.done = done

    def answer(self, index: int, outcome: Outcome) -> None:
        # only the worker thread answers queued requests, so no lock is needed
        self.outcomes[index] = outcome
        self.left -= 1
        if self.left == 0:
            try:
                self.done(cast(list[Outcome], self.outcomes))
            except Exception:  # like a future's callback: logged, never kills the worker
                log.exception("a batch group's callback raised")


class _Slot:
    """One request of a group: a future without the locks nobody waits on."""

    __slots__ = ("answered", "group", "index")

    def __init__(self, group: _Group, index: int) -> None:
        self.group = group
        self.index = index
        self.answered = False

    def set_running_or_notify_cancel(self) -> bool:
        return True

    def done(self) -> bool:
        return self.answered

    def set_result(self, result: np.ndarray) -> None:
        self._answer(result)

    def set_exception(self, exception: BaseException) -> None:
        self._answer(exception)

    def _answer(self, outcome: Outcome) -> None:
        if not self.answered:
            self.answered = True
            self.group.answer(self.index, outcome)


@dataclass
class _Item:
    frame: pd.DataFrame
    future: _Answer


BatchObserver = Callable[[int, int, float], None]  # (requests, rows, seconds) of each batch


@dataclass
class _LoopBatch:
    """Requests gathered on one thread's event loop for one call, until ``timer`` fires."""

    timer: asyncio.Handle
    waits: bool  # for company (``max_wait``); else it goes on the loop's next turn
    pending: list[tuple[pd.DataFrame, asyncio.Future[np.ndarray]]] = field(default_factory=list)
    rows: int = 0
    parked: int = 0  # of its requests, parked with ``parked_with`` (``InFlight.park``)
    parked_with: InFlight | None = None


class MicroBatcher:
    """Batches calls to ``predict`` from any thread or event loop."""

    def __init__(
        self,
        predict: Predict,
        spec: BatchingSpec,
        *,
        name: str = "model",
        observer: BatchObserver | None = None,
        lane: threading.Lock | None = None,
    ) -> None:
        self.predict = predict
        self._lane: AbstractContextManager[object] = lane if lane is not None else nullcontext()
        self.spec = spec
        self.name = name
        self.observer = observer
        self._queue: deque[_Item] = deque()
        self._queued_rows = 0
        self._cond = threading.Condition()
        self._closed = False
        self._predict_seconds = 0.0  # exponentially weighted, per batch (the first one as is)
        self._last_requests = 0  # requests in the last batch (0: none yet)
        self._busy = 0  # predicts running now (the worker's, and inline ones)
        self._predicts = 0  # predicts measured so far
        self._local = threading.local()  # each event loop's thread: requests batched on it
        self._thread = threading.Thread(
            target=self._run, name=f"evergreen-batch-{name}", daemon=True
        )
        self._thread.start()

    @property
    def queued_rows(self) -> int:
        return self._queued_rows

    @property
    def predict_seconds(self) -> float:
        """What one predict has taken lately (a moving average; 0.0 before the first)."""
        return self._predict_seconds

    def submit(self, frame: pd.DataFrame) -> Future[np.ndarray]:
        """Queue ``frame``; the future holds its outputs (or the exception predict raised)."""
        future: Future[np.ndarray] = Future()
        self._enqueue([_Item(frame, future)])
        return future

    def submit_group(
        self, frames: list[pd.DataFrame], done: Callable[[list[Outcome]], None]
    ) -> None:
        """Queue several requests at once (the worker wakes once for them); ``done`` gets each
        request's outputs or error, in order, on the worker thread once all are predicted. A
        request the model refuses fails alone. Called on an event loop for a model fast enough
        to be batched there, they are predicted on the loop's next turn instead."""
        if self._fast_enough_for_the_loop():
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                pass  # not called on an event loop: the worker predicts them
            else:
                loop.call_soon(self._predict_group_here, frames, done)
                return
        group = _Group(len(frames), done)
        self._enqueue([_Item(frame, _Slot(group, i)) for i, frame in enumerate(frames)])

    def _enqueue(self, items: list[_Item]) -> None:
        rows = sum(len(item.frame) for item in items)
        with self._cond:
            if self._closed:
                raise Unavailable(f"{self.name} is no longer served; retry the request")
            if self._queued_rows + rows > self.spec.max_queue_rows:
                raise Unavailable(
                    f"{self.name} has {self._queued_rows} rows waiting; the gateway is "
                    "overloaded, retry later"
                )
            self._queue.extend(items)
            self._queued_rows += rows
            self._cond.notify()

    async def predict_async(
        self, frame: pd.DataFrame, *, alone: bool = False, in_flight: InFlight | None = None
    ) -> np.ndarray:
        """``frame``'s outputs: batched by the worker, or predicted here when ``alone`` (no
        other request in flight) and the model is fast and idle (see the module doc).
        ``in_flight``: the gateway's count, so that a batch waiting on the event loop goes as
        soon as every request in flight waits in one (``InFlight.park``)."""
        if alone and self._claim_inline():
            return self._predict_inline(frame)
        if self._fast_enough_for_the_loop():
            return await self._join_loop_batch(frame, in_flight)
        return await asyncio.wrap_future(self.submit(frame))

    # -- batches on the event loop ----------------------------------------------------------
    def _fast_enough_for_the_loop(self) -> bool:
        limit = self.spec.loop_under
        return (
            limit > 0 and self._predicts > 0 and self._predict_seconds <= limit and not self._closed
        )

    def _join_loop_batch(
        self, frame: pd.DataFrame, in_flight: InFlight | None = None
    ) -> asyncio.Future[np.ndarray]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[np.ndarray] = loop.create_future()
        batch: _LoopBatch | None = getattr(self._local, "batch", None)
        if batch is None:
            wait = self._loop_wait()
            # with a wait, requests of the next turns join too; without, the loop's next turn,
            # after every request that arrived with this one
            timer: asyncio.Handle
            if wait > 0:
                timer = loop.call_later(wait, self._predict_loop_batch)
            else:
                timer = loop.call_soon(self._predict_loop_batch)
            batch = self._local.batch = _LoopBatch(timer, waits=wait > 0)
        batch.pending.append((frame, future))
        batch.rows += len(frame)
        if not batch.waits:
            return future  # goes on the next turn anyway
        if _full(batch.rows, len(frame), self.spec):  # now rather than after the wait
            self._release_loop_batch()
        elif in_flight is not None:
            batch.parked_with = in_flight
            batch.parked += 1
            in_flight.park(self, self._release_loop_batch)
        return future

    def _release_loop_batch(self) -> None:
        """Predict the batch waiting on this thread's loop on the loop's next turn."""
        batch: _LoopBatch | None = getattr(self._local, "batch", None)
        if batch is not None and batch.waits:
            batch.waits = False
            batch.timer.cancel()
            batch.timer = asyncio.get_running_loop().call_soon(self._predict_loop_batch)

    def _loop_wait(self) -> float:
        """How long a batch on the event loop waits for company: ``max_wait``, within what
        the ``latency_target`` leaves after the predict, when the last batch held more than
        one request; else none."""
        spec = self.spec
        if spec.max_wait <= 0 or self._last_requests <= 1:
            return 0.0
        return min(spec.max_wait, max(0.0, spec.latency_target - self._predict_seconds))

    def _predict_loop_batch(self) -> None:
        batch: _LoopBatch = self._local.batch
        self._local.batch = None
        if batch.parked_with is not None:
            batch.parked_with.unpark(self, batch.parked)
        live = [(frame, future) for frame, future in batch.pending if not future.done()]
        outcomes = self._predict_here([frame for frame, _ in live])
        for (_, future), outcome in zip(live, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    def _predict_group_here(
        self, frames: list[pd.DataFrame], done: Callable[[list[Outcome]], None]
    ) -> None:
        try:
            done(self._predict_here(frames))
        except Exception:
            log.exception("a batch group's callback raised")

    def _predict_here(self, frames: list[pd.DataFrame]) -> list[Outcome]:
        """Each request's outcome, predicted on this thread, at most ``max_batch_rows`` rows
        (and at least one request) a call."""
        outcomes: list[Outcome] = []
        while len(outcomes) < len(frames):
            first = len(outcomes)
            end = first + 1
            rows = len(frames[first])
            while end < len(frames) and rows + len(frames[end]) <= self.spec.max_batch_rows:
                rows += len(frames[end])
                end += 1
            batch = frames[first:end]
            with self._cond:
                self._busy += 1
            started = time.perf_counter()
            try:
                outcomes.extend(self._outcomes(batch))
            finally:
                seconds = time.perf_counter() - started
                with self._cond:
                    self._busy -= 1
                    self._last_requests = len(batch)
                    self._measured(seconds)
            if self.observer is not None:
                try:
                    self.observer(len(batch), rows, seconds)
                except Exception:
                    log.exception("the batch observer of %s raised", self.name)
        return outcomes

    def _claim_inline(self) -> bool:
        """Whether a request may be predicted on the caller's thread now (see the module doc);
        if so, it counts as a running predict until ``_predict_inline`` ends."""
        spec = self.spec
        with self._cond:
            if (
                self._closed
                or self._queue
                or self._busy
                or self._last_requests != 1  # none measured yet, or requests arrive together
                or self._predict_seconds > spec.inline_under
            ):
                return False
            self._busy += 1
            return True

    def _predict_inline(self, frame: pd.DataFrame) -> np.ndarray:
        started = time.perf_counter()
        try:
            return np.asarray(self.predict(frame))
        finally:
            seconds = time.perf_counter() - started
            with self._cond:
                self._busy -= 1
                self._measured(seconds)
                if self._queue:
                    self._cond.notify()
            if self.observer is not None:
                self.observer(1, len(frame), seconds)

    def close(self) -> None:
        """Finish what is queued, then stop the worker."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(30.0)

    # -- the worker -------------------------------------------------------------------------
    def _run(self) -> None:
        while self._wait_for_batch():
            with self._lane:  # queued requests keep joining while another version predicts
                batch = self._pop_batch()
                try:
                    self._predict(batch)
                except BaseException as exc:  # never leave a caller waiting on a dead worker
                    for item in batch:
                        if not item.future.done():
                            item.future.set_exception(exc)

    def _wait_for_batch(self) -> bool:
        """Wait until something is queued (and, with ``max_wait``, for company); False once
        the batcher is closed and nothing is left."""
        spec = self.spec
        with self._cond:
            while not self._queue:
                if self._closed:
                    return False
                self._cond.wait()
            if (
                spec.max_wait > 0
                and self._last_requests != 1
                and not _full(self._queued_rows, len(self._queue[-1].frame), spec)
            ):
                budget = min(spec.max_wait, max(0.0, spec.latency_target - self._predict_seconds))
                deadline = time.monotonic() + budget
                while not self._closed and not _full(
                    self._queued_rows, len(self._queue[-1].frame), spec
                ):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
            return True

    def _pop_batch(self) -> list[_Item]:
        """Everything queued, up to ``max_batch_rows`` rows (at least one request)."""
        with self._cond:
            batch: list[_Item] = []
            rows = 0
            while self._queue:
                size = len(self._queue[0].frame)
                if batch and rows + size > self.spec.max_batch_rows:
                    break
                item = self._queue.popleft()
                batch.append(item)
                rows += size
            self._queued_rows -= rows
            self._last_requests = len(batch)
            return batch

    def _predict(self, batch: list[_Item]) -> None:
        live = [item for item in batch if item.future.set_running_or_notify_cancel()]
        if not live:
            return
        with self._cond:
            self._busy += 1
        started, cpu_started = time.perf_counter(), time.thread_time()
        try:
            outcomes = self._outcomes([item.frame for item in live])
        finally:
            seconds = time.perf_counter() - started
            with self._cond:
                self._busy -= 1
                # its CPU, not its wall time: see the module doc
                self._measured(time.thread_time() - cpu_started)
        # the callers resume only now, so one that predicts again finds the batcher idle
        for item, outcome in zip(live, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                item.future.set_exception(outcome)
            else:
                item.future.set_result(outcome)
        if self.observer is not None:
            self.observer(len(live), sum(len(i.frame) for i in live), seconds)

    def _measured(self, seconds: float) -> None:
        """Fold one predict's time into the average (with ``_cond`` held)."""
        if self._predicts == 0:
            self._predict_seconds = seconds
        else:
            self._predict_seconds = 0.8 * self._predict_seconds + 0.2 * seconds
        self._predicts += 1

    def _outcomes(self, frames: list[pd.DataFrame]) -> list[Outcome]:
        """Each request's outputs, or the error it gets: that of its batch when it was alone;
        a batch that fails is predicted one request at a time, so a bad request fails alone."""
        try:
            if len(frames) == 1:
                return [np.asarray(self.predict(frames[0]))]
            stacked = stack_frames(frames)
            return list(_split(np.asarray(self.predict(stacked)), [len(f) for f in frames]))
        except BaseException as exc:
            if len(frames) == 1:
                return [exc]
        outcomes: list[Outcome] = []
        for frame in frames:
            try:
                outcomes.append(np.asarray(self.predict(frame)))
            except BaseException as exc:
                outcomes.append(exc)
        return outcomes


def _split(outputs: np.ndarray, counts: list[int]) -> list[np.ndarray]:
    if len(outputs) != sum(counts):
        raise ValueError(f"the model returned {len(outputs)} rows for {sum(counts)} inputs")
    pieces: list[np.ndarray] = []
    start = 0
    for count in counts:  # slicing: np.split took 2 us a piece
        pieces.append(outputs[start : start + count])
        start += count
    return pieces
