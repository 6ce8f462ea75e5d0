"""Shadow copies: gathered on the event loop, handed over together, predicted and logged off it."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from evergreen.bootstrap import Context
from evergreen.serving.batching import BatchingSpec, MicroBatcher
from evergreen.serving.loader import ModelLoader, ServedModel
from evergreen.serving.metrics import GatewayMetrics
from evergreen.serving.model_cache import ServedShadow
from evergreen.serving.shadows import BUSY_SHARE, ShadowCopies

from .conftest import Publish, numeric_data
from .delays import take


@dataclass(frozen=True)
class Logged:
    endpoint: str
    variant: str
    request_id: str
    inputs: pd.DataFrame
    outputs: np.ndarray | None
    latency_ms: float
    error: str | None
    thread: str


class Log:
    """Collects what the shadows log, from whichever thread logs it, one row a copy."""

    def __init__(self) -> None:
        self.rows: list[Logged] = []
        self.calls = 0
        self.lock = threading.Lock()

    def __call__(
        self,
        endpoint: str,
        variant: str,
        served: ServedModel,
        request_ids: Sequence[str],
        counts: Sequence[int],
        inputs: pd.DataFrame,
        outputs: np.ndarray | None,
        latency_ms: float,
        error: str | None,
    ) -> None:
        thread = threading.current_thread().name
        assert len(request_ids) == len(counts) and sum(counts) == len(inputs)
        assert outputs is None or len(outputs) == len(inputs)
        with self.lock:
            self.calls += 1
            start = 0
            for request_id, count in zip(request_ids, counts, strict=True):
                rows = slice(start, start + count)
                start += count
                self.rows.append(
                    Logged(
                        endpoint,
                        variant,
                        request_id,
                        inputs.iloc[rows],
                        None if outputs is None else outputs[rows],
                        latency_ms,
                        error,
                        thread,
                    )
                )


class Model:
    """Predicts like the published model, counts rows per call, refuses negative humidity;
    takes ``delay`` seconds more, asleep or with ``spin`` computing (a call costs its CPU)."""

    def __init__(
        self,
        predict: Callable[[pd.DataFrame], np.ndarray],
        delay: float = 0.0,
        *,
        spin: bool = False,
    ) -> None:
        self.predict = predict
        self.delay = delay
        self.spin = spin
        self.calls: list[int] = []

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        self.calls.append(len(frame))
        take(self.delay, spin=self.spin)
        if (frame["humidity"] < 0).any():
            raise ValueError("negative humidity")
        return np.asarray(self.predict(frame))


@pytest.fixture
def served(context: Context, publish: Publish) -> ServedModel:
    published = publish()
    return ModelLoader(context.registry, onnx=False).load(published.name, published.version)


def shadow_of(
    served: ServedModel, model: Model, *, batched: bool = True, spec: BatchingSpec | None = None
) -> ServedShadow:
    batcher = MicroBatcher(model, spec or BatchingSpec(), name="shadow") if batched else None
    copy = ServedModel(served.model, "native", model, 0.0, batcher)
    return ServedShadow("next", "rentals:1", 1.0, copy)


def rows(served: ServedModel, count: int) -> list[pd.DataFrame]:
    """``count`` one-row requests, conformed to the model's signature as the gateway does."""
    features, _ = numeric_data(seed=3, rows=count)
    conformed = served.model.signature.conform(features)
    return [conformed.iloc[[i]] for i in range(count)]


def send_all(copies: ShadowCopies, shadow: ServedShadow, frames: list[pd.DataFrame]) -> None:
    for i, frame in enumerate(frames):
        copies.send("bikes", (shadow,), frame, f"r{i}")


def test_copies_that_arrive_together_are_predicted_in_one_call(served: ServedModel) -> None:
    model = Model(served.predict)
    shadow = shadow_of(served, model)
    log = Log()
    metrics = GatewayMetrics()
    frames = rows(served, 20)

    async def main() -> None:
        copies = ShadowCopies(log, metrics, wait=0.2)
        send_all(copies, shadow, frames)
        assert log.rows == [] and copies.in_flight == 20  # nothing handed over yet
        await asyncio.sleep(0.6)
        assert copies.in_flight == 0
        copies.close()

    asyncio.run(main())
    assert model.calls == [20]  # one call for the twenty copies
    assert log.calls == 1  # and one log record
    assert [r.request_id for r in log.rows] == [f"r{i}" for i in range(20)]
    for logged, frame in zip(log.rows, frames, strict=True):
        np.testing.assert_allclose(logged.outputs, served.predict(frame))  # type: ignore[arg-type]
        pd.testing.assert_frame_equal(
            logged.inputs.reset_index(drop=True), frame.reset_index(drop=True)
        )
        assert logged.error is None and logged.variant == "next" and logged.endpoint == "bikes"
        assert logged.thread == "evergreen-batch-shadow"  # logged off the event loop
        assert logged.latency_ms < 200  # the gathering wait is not the model's time
    lag = metrics.registry.get_sample_value(
        "evergreen_shadow_lag_seconds_count", {"endpoint": "bikes", "variant": "next"}
    )
    assert lag == 20
    shadow.served.close()


def test_a_copy_the_model_refuses_fails_alone(served: ServedModel) -> None:
    model = Model(served.predict)
    shadow = shadow_of(served, model)
    log = Log()
    frames = rows(served, 5)
    frames[2] = frames[2].assign(humidity=-1.0)

    async def main() -> None:
        copies = ShadowCopies(log, GatewayMetrics(), wait=0.05)
        send_all(copies, shadow, frames)
        await copies.drain()
        copies.close()

    asyncio.run(main())
    by_id = {r.request_id: r for r in log.rows}
    assert len(by_id) == 5 and len(log.rows) == 5  # each copy logged once
    assert by_id["r2"].outputs is None and "negative humidity" in str(by_id["r2"].error)
    for i in (0, 1, 3, 4):
        assert by_id[f"r{i}"].error is None
        np.testing.assert_allclose(by_id[f"r{i}"].outputs, served.predict(frames[i]))  # type: ignore[arg-type]
    assert model.calls[0] == 5 and model.calls[-5:] == [1] * 5  # together, then one by one
    shadow.served.close()


def test_copies_beyond_a_batch_are_predicted_in_batches_and_logged_one_by_one(
    served: ServedModel,
) -> None:
    model = Model(served.predict)
    shadow = shadow_of(served, model, spec=BatchingSpec(max_batch_rows=3))
    log = Log()
    frames = rows(served, 5)

    async def main() -> None:
        copies = ShadowCopies(log, GatewayMetrics(), wait=0.05)
        send_all(copies, shadow, frames)
        await copies.drain()
        copies.close()

    asyncio.run(main())
    assert model.calls == [3, 2]  # the batcher's limit holds
    assert log.calls == 5
    assert [r.request_id for r in log.rows] == [f"r{i}" for i in range(5)]
    for logged, frame in zip(log.rows, frames, strict=True):
        np.testing.assert_allclose(logged.outputs, served.predict(frame))  # type: ignore[arg-type]
    shadow.served.close()


def test_a_model_that_does_not_batch_is_predicted_copy_by_copy_off_the_loop(
    served: ServedModel,
) -> None:
    model = Model(served.predict, delay=0.05)
    shadow = shadow_of(served, model, batched=False)
    log = Log()
    frames = rows(served, 4)

    async def main() -> float:
        copies = ShadowCopies(log, GatewayMetrics(), wait=0.01)
        started = time.perf_counter()
        send_all(copies, shadow, frames)
        await asyncio.sleep(0)  # the loop is free while the shadow predicts
        free = time.perf_counter() - started
        await copies.drain()
        copies.close()
        return free

    assert asyncio.run(main()) < 0.05
    assert model.calls == [1, 1, 1, 1]
    assert {r.thread.split("_")[0] for r in log.rows} == {"evergreen-shadow"}
    assert all(r.latency_ms >= 50 for r in log.rows)  # each copy's own predict time


def test_drain_hands_over_what_is_gathered_and_waits_for_it(served: ServedModel) -> None:
    model = Model(served.predict, delay=0.1)
    shadow = shadow_of(served, model)
    log = Log()

    async def main() -> None:
        copies = ShadowCopies(log, GatewayMetrics(), wait=60.0)  # the timer never fires
        send_all(copies, shadow, rows(served, 3))
        await copies.drain(timeout=5.0)
        assert copies.in_flight == 0
        copies.close()

    started = time.perf_counter()
    asyncio.run(main())
    assert time.perf_counter() - started < 5.0
    assert sorted(r.request_id for r in log.rows) == ["r0", "r1", "r2"]
    shadow.served.close()


def test_a_full_window_is_handed_over_at_once(served: ServedModel) -> None:
    model = Model(served.predict)
    shadow = shadow_of(served, model)
    log = Log()

    async def main() -> None:
        copies = ShadowCopies(log, GatewayMetrics(), wait=60.0, max_rows=4)
        send_all(copies, shadow, rows(served, 9))
        deadline = time.monotonic() + 5
        while len(log.rows) < 8 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert len(log.rows) == 8 and copies.in_flight == 1  # the ninth waits for company
        await copies.drain()
        copies.close()

    asyncio.run(main())
    assert sum(model.calls) == 9
    shadow.served.close()


def test_copies_beyond_the_limit_are_dropped_and_counted(served: ServedModel) -> None:
    model = Model(served.predict)
    shadow = shadow_of(served, model)
    log = Log()
    metrics = GatewayMetrics()

    async def main() -> None:
        copies = ShadowCopies(log, metrics, wait=60.0, max_in_flight=3)
        send_all(copies, shadow, rows(served, 5))
        assert copies.in_flight == 3
        await copies.drain()
        copies.close()

    asyncio.run(main())
    assert sorted(r.request_id for r in log.rows) == ["r0", "r1", "r2"]
    dropped = metrics.registry.get_sample_value(
        "evergreen_shadow_dropped_total", {"endpoint": "bikes", "variant": "next"}
    )
    assert dropped == 2
    shadow.served.close()


def test_copies_for_a_version_no_longer_served_are_logged_as_failed(served: ServedModel) -> None:
    model = Model(served.predict)
    shadow = shadow_of(served, model)
    shadow.served.close()  # swapped out while its copies were gathered
    log = Log()

    async def main() -> None:
        copies = ShadowCopies(log, GatewayMetrics(), wait=0.01)
        send_all(copies, shadow, rows(served, 2))
        await copies.drain()
        assert copies.in_flight == 0
        copies.close()

    asyncio.run(main())
    assert model.calls == []
    assert len(log.rows) == 2
    assert all("no longer served" in str(r.error) for r in log.rows)


def test_a_shadow_that_samples_nothing_gets_no_copies(served: ServedModel) -> None:
    model = Model(served.predict)
    shadow = shadow_of(served, model)
    never = ServedShadow("next", "rentals:1", 0.0, shadow.served)
    log = Log()

    async def main() -> None:
        copies = ShadowCopies(log, GatewayMetrics(), wait=0.01)
        send_all(copies, never, rows(served, 10))
        assert copies.in_flight == 0
        await copies.drain()
        copies.close()

    asyncio.run(main())
    assert log.rows == [] and model.calls == []
    shadow.served.close()


def test_a_shadow_whose_calls_are_costly_gathers_its_copies_for_longer(
    served: ServedModel,
) -> None:
    slow = shadow_of(served, Model(served.predict, delay=0.03, spin=True))
    fast = shadow_of(served, Model(served.predict))
    unbatched = shadow_of(served, Model(served.predict), batched=False)
    log = Log()
    frames = rows(served, 6)

    async def main() -> None:
        copies = ShadowCopies(log, GatewayMetrics(), wait=0.2, max_wait=3.0)
        assert copies.window_for(slow.served) == 0.2  # nothing measured yet
        for shadow in (slow, fast):
            assert shadow.served.batcher is not None
            shadow.served.batcher.submit(frames[0]).result()  # one call measured
        # twenty of its calls: ~0.6 s, so that its calls take a small share of a core
        assert 0.55 <= copies.window_for(slow.served) <= 3.0
        assert copies.window_for(fast.served) == 0.2  # a cheap call keeps the usual window
        assert copies.window_for(unbatched.served) == 0.2
        capped = ShadowCopies(log, GatewayMetrics(), wait=0.01, max_wait=0.1)
        assert capped.window_for(slow.served) == 0.1
        capped.close()
        for i, frame in enumerate(frames):
            copies.send("bikes", (slow,), frame, f"r{i}")
            await asyncio.sleep(0.05)  # 0.3 s in all: past the usual window
        assert log.rows == []  # still gathering
        await copies.drain()
        copies.close()

    asyncio.run(main())
    assert slow.served.batcher is not None and isinstance(slow.served.predict, Model)
    assert slow.served.predict.calls == [1, 6]  # the measured call, then all six at once
    assert [r.request_id for r in log.rows] == [f"r{i}" for i in range(6)]
    for shadow in (slow, fast):
        shadow.served.close()


@pytest.mark.parametrize(
    ("sample", "busy_share", "busy_wait", "busy_runnable", "kept"),
    [
        (1.0, 0.25, 0.0, 1.1, (70, 130)),  # short of CPU (any wait counts): a quarter
        (1.0, 0.25, 1.1, 0.0, (70, 130)),  # a loop never idle (any run counts): a quarter
        (0.1, 0.25, 0.0, 1.1, (20, 65)),  # its own sample is smaller: unchanged
        (1.0, 1.0, 0.0, 0.0, (400, 400)),  # 1: every copy, whatever the load
        (1.0, 0.25, 1.1, 1.1, (400, 400)),  # never short of CPU: every copy
    ],
    ids=["busy", "loop-never-idle", "sampled-below", "share-1", "not-busy"],
)
def test_a_gateway_short_of_cpu_sheds_shadow_copies_and_counts_them(
    served: ServedModel,
    sample: float,
    busy_share: float,
    busy_wait: float,
    busy_runnable: float,
    kept: tuple[int, int],
) -> None:
    random.seed(5)
    model = Model(served.predict)
    shadow = shadow_of(served, model)
    sampling = ServedShadow(shadow.name, shadow.ref, sample, shadow.served)
    log = Log()
    metrics = GatewayMetrics()

    async def main() -> None:
        copies = ShadowCopies(
            log,
            metrics,
            wait=60.0,
            busy_share=busy_share,
            busy_wait=busy_wait,
            busy_runnable=busy_runnable,
        )
        send_all(copies, sampling, rows(served, 400))
        await copies.drain()
        copies.close()

    asyncio.run(main())
    low, high = kept
    assert low <= len(log.rows) <= high
    shed = metrics.registry.get_sample_value(
        "evergreen_shadow_shed_total", {"endpoint": "bikes", "variant": "next"}
    )
    shed = shed or 0.0  # no series until the first shed copy
    if sample == 1.0:  # every copy the shadow samples is either predicted or shed
        assert len(log.rows) + shed == 400
    else:
        assert shed == 0.0  # the sample alone decided
    shadow.served.close()


def test_the_busy_share_comes_from_the_gateway_config(context: Context) -> None:
    from evergreen.serving.app import GatewayConfig, create_app

    # as `evergreen serve --workers N` hands it to each worker process
    config = GatewayConfig.from_json(GatewayConfig(shadow_busy_share=0.3).to_json())
    app = create_app(context.registry, None, config=config)
    assert app.state.gateway.shadows.busy_share == 0.3
    default = create_app(context.registry, None)
    assert default.state.gateway.shadows.busy_share == BUSY_SHARE < 1.0
