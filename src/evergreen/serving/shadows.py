"""Shadow copies: each shadow of an endpoint gets a copy of (a sampled share of) the requests
the endpoint answers, predicted off the request path; its answers are logged, never returned.

Copies for one shadow are gathered on the event loop for a window (or up to ``max_rows`` rows)
and handed over together: stacked into one frame, to the shadow's
micro-batcher, which predicts it in one call: on the event loop's next turn for a model fast
enough to be batched there, else on its worker thread, woken once for all of them. Whoever
predicted them logs the answers as one prediction-log record (one record a copy cost a busy
gateway a tenth of its throughput). When that call fails, the copies are predicted again one by
one, so a copy the model refuses fails alone and is logged with its error. A model that does not
batch gets its copies on a thread that predicts them one by one. Handed over one by one, the
shadow's thread and the event loop traded Python's lock on every request, and a busy gateway
lost a third of its throughput.

The window is ``wait`` seconds, or longer for a model whose every call costs much whatever
the rows (a 100-tree scikit-learn forest: ~5 ms for 1 row or 100): ``CALLS_PER_CORE_SHARE``
times what the shadow's predict has taken lately, up to ``max_wait``, so a shadow's calls take
at most about a twentieth of a core however busy the endpoint. With 20 ms windows such a forest
as a shadow made ~50 calls a second per worker, and cost a busy gateway a fifth of its
throughput; the copies wait longer instead, which only the lag metric sees.

While the gateway is short of CPU (in some quarter second of the last second its event loop
waited for a core at least ``busy_wait`` of the time, or was never idle for more than
``1 - busy_runnable`` of it; see ``cpu_wait.py``), each shadow gets at most ``busy_share`` of
the requests (its own sample share if smaller); the copies it does not get are counted as
shed. A shadow predicts as much as its primary, so on saturated cores mirroring every request
took up to half the primary's throughput (a 100-tree forest with 100-row requests: 0.56x),
which is the primary slowed by its shadow. A loop with no idle time is saturated however many
cores are free: the shadow's predicts, on the loop or on a thread holding Python's lock, are
time its requests wait (one worker at 64 clients: a logistic regression's A/B test with its
shadow at 0.80-0.86x of one version, 0.93-0.95x shed). With idle time on the loop and cores to
spare, the shadow gets every copy it samples. ``busy_share`` 1 mirrors every copy whatever the
load. On saturated cores, a shadow as costly as its primary costs the primary about its share
of the requests: with the default, a tenth, a 100-tree forest's shadow alone cost one version
3-19% of its throughput at 100-row requests (four interleaved rounds), and a 50/50 A/B test
with that shadow kept 0.93x of one version's throughput (benchmarks/RESULTS.md 8j).

A shadow's logged latency counts from the hand-over (the gathering wait is not the model's, so
it does not count against the shadow in a verdict); ``evergreen_shadow_lag_seconds`` counts
from the primary's answer. Copies for a shadow that has fallen behind (its queue over half
full), or beyond ``max_in_flight`` copies gathered or predicting, are dropped and counted.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import NamedTuple

import numpy as np
import pandas as pd
from prometheus_client import Histogram

from evergreen.serving.batching import MicroBatcher, Outcome
from evergreen.serving.cpu_wait import CpuWait
from evergreen.serving.frames import numeric_block, stack_frames
from evergreen.serving.loader import ServedModel
from evergreen.serving.metrics import GatewayMetrics
from evergreen.serving.model_cache import ServedShadow
from evergreen.serving.policy import sampled

log = logging.getLogger(__name__)

SHADOW_WAIT = 0.020
MAX_SHADOW_WAIT = 1.0
CALLS_PER_CORE_SHARE = 20.0  # a window lasts at least this many of the shadow's predicts
MAX_SHADOW_ROWS = 256
MAX_SHADOWS_IN_FLIGHT = 1000
BUSY_SHARE = 0.1  # the share of requests a shadow gets at most while the gateway is short of CPU
BUSY_WAIT = 0.02  # short of CPU: the event loop waited for a core this share of the time
BUSY_RUNNABLE = 0.9  # or it was running or waiting this share of the time (hardly ever idle)

# (endpoint, variant, served, request ids, each one's rows, their inputs one after the other,
#  their outputs likewise or None, latency_ms, error or None)
ShadowLog = Callable[
    [
        str,
        str,
        ServedModel,
        Sequence[str],
        Sequence[int],
        pd.DataFrame,
        "np.ndarray | None",
        float,
        "str | None",
    ],
    None,
]


class _Copy(NamedTuple):
    request_id: str
    inputs: pd.DataFrame
    block: np.ndarray | None  # frames.numeric_block(inputs)
    rows: int
    answered: float  # perf_counter() when the primary answered


@dataclass
class _Window:
    """Copies gathered for one shadow of one endpoint, not handed over yet."""

    endpoint: str
    shadow: ServedShadow
    lag: Histogram  # the shadow's lag series
    copies: list[_Copy] = field(default_factory=list)
    rows: int = 0
    timer: asyncio.TimerHandle | None = None


class ShadowCopies:
    """Gathers shadow copies on the event loop and has them predicted and logged off it."""

    def __init__(
        self,
        log_answer: ShadowLog,
        metrics: GatewayMetrics,
        *,
        wait: float = SHADOW_WAIT,
        max_wait: float = MAX_SHADOW_WAIT,
        max_rows: int = MAX_SHADOW_ROWS,
        max_in_flight: int = MAX_SHADOWS_IN_FLIGHT,
        busy_share: float = BUSY_SHARE,
        busy_wait: float = BUSY_WAIT,
        busy_runnable: float = BUSY_RUNNABLE,
        cpu_wait: CpuWait | None = None,
    ) -> None:
        self.log_answer = log_answer
        self.metrics = metrics
        self.wait = wait
        self.max_wait = max(wait, max_wait)
        self.max_rows = max_rows
        self.max_in_flight = max_in_flight
        self.busy_share = busy_share
        self.busy_wait = busy_wait
        self.busy_runnable = busy_runnable
        self.cpu_wait = cpu_wait or CpuWait()
        self._windows: dict[tuple[str, int], _Window] = {}
        self._in_flight = 0  # copies gathered or predicting
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="evergreen-shadow")

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def window_for(self, served: ServedModel) -> float:
        """How long copies for this model are gathered before they are handed over (see the
        module doc)."""
        batcher = served.batcher
        if batcher is None:
            return self.wait
        costly = batcher.predict_seconds * CALLS_PER_CORE_SHARE
        return max(self.wait, min(self.max_wait, costly))

    def send(
        self,
        endpoint: str,
        shadows: tuple[ServedShadow, ...],
        inputs: pd.DataFrame,
        request_id: str,
        block: np.ndarray | None = None,
    ) -> None:
        """Copy a request the primary has answered to each shadow that samples it; call it on
        the event loop. ``block``: ``frames.numeric_block(inputs)`` when the caller has it."""
        answered = time.perf_counter()
        rows = len(inputs)
        if block is None:
            block = numeric_block(inputs)
        busy = self.busy_share < 1.0 and self._short_of_cpu()
        for shadow in shadows:
            if not sampled(shadow.sample):
                continue
            if busy and not sampled(self.busy_share / shadow.sample):
                self.metrics.shadow_shed.labels(endpoint, shadow.name).inc()
                continue
            if self._in_flight >= self.max_in_flight or _behind(shadow.served):
                self.metrics.shadow_dropped.labels(endpoint, shadow.name).inc()
                continue
            key = (endpoint, id(shadow))
            window = self._windows.get(key)
            if window is None:
                lag = self.metrics.shadow_lag.labels(endpoint, shadow.name)
                window = self._windows[key] = _Window(endpoint, shadow, lag)
                loop = asyncio.get_running_loop()
                wait = self.window_for(shadow.served)
                window.timer = loop.call_later(wait, self._hand_over, key)
            window.copies.append(_Copy(request_id, inputs, block, rows, answered))
            window.rows += rows
            with self._lock:
                self._in_flight += 1
            if window.rows >= self.max_rows:
                self._hand_over(key)

    def _short_of_cpu(self) -> bool:
        waited, runnable = self.cpu_wait.shares()
        return waited >= self.busy_wait or runnable >= self.busy_runnable

    async def drain(self, timeout: float = 10.0) -> None:
        """Hand over every copy gathered so far and wait (up to ``timeout``) until all are
        predicted and logged."""
        for key in list(self._windows):
            self._hand_over(key)
        deadline = time.monotonic() + timeout
        while self._in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if self._in_flight:
            log.warning("%d shadow copies still running after %.0f s", self._in_flight, timeout)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.cpu_wait.close()

    # -- handing over -----------------------------------------------------------------------
    def _hand_over(self, key: tuple[str, int]) -> None:
        window = self._windows.pop(key, None)
        if window is None:
            return
        if window.timer is not None:
            window.timer.cancel()
        handed = time.perf_counter()
        batcher = window.shadow.served.batcher
        try:
            if batcher is None:
                self._pool.submit(self._predict_each, window)
            elif len(window.copies) > 1 and window.rows <= batcher.spec.max_batch_rows:
                frames = [copy.inputs for copy in window.copies]
                stacked = stack_frames(frames, [copy.block for copy in window.copies])
                together = partial(self._together, batcher, window, handed, stacked)
                batcher.submit_group([stacked], together)
            else:
                self._submit_each(batcher, window, handed)
        except Exception as exc:  # swapped out and closed, overloaded, or shutting down
            self._each(window, handed, [exc] * len(window.copies))

    def _submit_each(self, batcher: MicroBatcher, window: _Window, handed: float) -> None:
        frames = [copy.inputs for copy in window.copies]
        batcher.submit_group(frames, partial(self._each, window, handed))

    def _together(
        self,
        batcher: MicroBatcher,
        window: _Window,
        handed: float,
        stacked: pd.DataFrame,
        outcomes: list[Outcome],
    ) -> None:
        """The window's copies, stacked, have been predicted in one call (on the event loop or
        the batch thread): one log record for all of them."""
        outputs = outcomes[0]
        if isinstance(outputs, BaseException) or outputs.shape[:1] != (window.rows,):
            try:  # perhaps one copy the model refuses: one by one, so that it fails alone
                self._submit_each(batcher, window, handed)
            except Exception as exc:
                self._each(window, handed, [exc] * len(window.copies))
            return
        shadow = window.shadow
        try:
            now = time.perf_counter()
            latency_ms = (now - handed) * 1000.0
            for copy in window.copies:
                window.lag.observe(now - copy.answered)
            self.log_answer(
                window.endpoint,
                shadow.name,
                shadow.served,
                [copy.request_id for copy in window.copies],
                [copy.rows for copy in window.copies],
                stacked,
                outputs,
                latency_ms,
                None,
            )
        except Exception:  # a shadow never takes anything down with it
            log.exception("shadow %s of %s: answers not logged", shadow.name, window.endpoint)
        finally:
            with self._lock:
                self._in_flight -= len(window.copies)

    def _each(self, window: _Window, handed: float, outcomes: list[Outcome]) -> None:
        """The window's copies have been predicted one by one (on the event loop or the batch
        thread)."""
        seconds = time.perf_counter() - handed
        for copy, outcome in zip(window.copies, outcomes, strict=True):
            self._done(window, copy, outcome, seconds)

    def _predict_each(self, window: _Window) -> None:
        """Predict the copies for a model that does not batch, one by one (on a pool thread)."""
        served = window.shadow.served
        for copy in window.copies:
            started = time.perf_counter()
            outcome: Outcome
            try:
                outcome = np.asarray(served.predict(copy.inputs))
            except Exception as exc:
                outcome = exc
            self._done(window, copy, outcome, time.perf_counter() - started)

    def _done(self, window: _Window, copy: _Copy, outcome: Outcome, seconds: float) -> None:
        shadow = window.shadow
        try:
            if isinstance(outcome, BaseException):
                outputs, message = None, f"{type(outcome).__name__}: {outcome}"
            else:
                outputs, message = outcome, None
                window.lag.observe(time.perf_counter() - copy.answered)
            self.log_answer(
                window.endpoint,
                shadow.name,
                shadow.served,
                (copy.request_id,),
                (copy.rows,),
                copy.inputs,
                outputs,
                seconds * 1000.0,
                message,
            )
        except Exception:  # a shadow never takes anything down with it
            log.exception("shadow %s of %s: answer not logged", shadow.name, window.endpoint)
        finally:
            with self._lock:
                self._in_flight -= 1


def _behind(served: ServedModel) -> bool:
    batcher = served.batcher
    return batcher is not None and batcher.queued_rows > batcher.spec.max_queue_rows // 2
