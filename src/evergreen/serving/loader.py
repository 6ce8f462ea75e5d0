"""Loading a model version for serving: verified load, the ONNX Runtime fast path, warm-up, and
its micro-batcher.

A version with a verified ONNX export is served by ONNX Runtime when, on the version's stored
reference rows, the export's outputs still match the model's own (checked again at load, not
taken on trust); otherwise by its flavor, on the rows' values rather than a frame where the
flavor offers that and the outputs are the same (``array_path``). Before a version takes
traffic it predicts once on those rows, so the first request pays no lazy initialisation, and a
version that cannot predict on its own training sample is refused (the version before it keeps
serving). Once loaded, what the process holds is frozen out of the garbage collector's full
collections (``gc.freeze``), which otherwise stall requests for hundreds of milliseconds.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from evergreen.errors import EvergreenError, IntegrityFailure, InvalidState
from evergreen.flavors.base import LoadedModel
from evergreen.registry import Registry
from evergreen.serving.array_path import ArrayPath
from evergreen.serving.batching import BatchingSpec, BatchObserver, MicroBatcher
from evergreen.serving.in_flight import InFlight

if TYPE_CHECKING:
    from evergreen.flavors import onnx_runtime

log = logging.getLogger(__name__)

WARM_ROWS = 200


@dataclass
class ServedModel:
    """A loaded version with the function that predicts on conformed frames."""

    model: LoadedModel
    backend: str  # "native", "native-cuda" (a GPU) or "onnxruntime"
    predict: Callable[[pd.DataFrame], np.ndarray]
    load_seconds: float
    batcher: MicroBatcher | None = field(default=None, repr=False)

    @property
    def key(self) -> tuple[str, int]:
        return (self.model.name, self.model.version)

    async def predict_async(
        self, frame: pd.DataFrame, *, alone: bool = False, in_flight: InFlight | None = None
    ) -> np.ndarray:
        """Outputs for rows that already conform to the signature (batched when enabled;
        ``alone`` and ``in_flight``: see ``MicroBatcher.predict_async``)."""
        if self.batcher is not None:
            return await self.batcher.predict_async(frame, alone=alone, in_flight=in_flight)
        return await asyncio.to_thread(self.predict, frame)

    def close(self) -> None:
        if self.batcher is not None:
            self.batcher.close()


@dataclass(frozen=True)
class OnnxPath:
    """Predicts with ONNX Runtime on a verified export."""

    graph: onnx_runtime.Graph
    columns: list[str]

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        return self.graph.run(frame, self.columns)


class ModelLoader:
    """Turns ``(name, version)`` into a warmed ``ServedModel``."""

    def __init__(
        self,
        registry: Registry,
        batching: BatchingSpec | None = None,
        *,
        onnx: bool = True,
        observer: Callable[[str], BatchObserver] | None = None,
    ) -> None:
        self.registry = registry
        self.batching = batching or BatchingSpec()
        self.onnx = onnx
        self.observer = observer
        self._lanes: dict[str, threading.Lock] = {}  # one per model name (see MicroBatcher)

    def load(self, name: str, version: int) -> ServedModel:
        started = time.perf_counter()
        model = self.registry.load(name, version)
        sample = self._sample(name, version)
        predict, backend = self._fast_path(model, sample)
        if sample is not None:
            try:
                predict(model.signature.conform(sample.head(WARM_ROWS)))
            except Exception as exc:
                raise InvalidState(
                    f"{name}:{version} cannot predict on its own reference rows, so it is not "
                    f"served: {exc}"
                ) from None
        batcher = None
        if self.batching.enabled and model.flavor.batchable:
            observe = self.observer(f"{name}:{version}") if self.observer else None
            batcher = MicroBatcher(
                predict,
                self.batching,
                name=f"{name}:{version}",
                observer=observe,
                lane=self._lanes.setdefault(name, threading.Lock()),
            )
        seconds = time.perf_counter() - started
        log.info("loaded %s:%d (%s) in %.2fs", name, version, backend, seconds)
        # Everything alive now (the libraries, this model) lives as long as the process or the
        # version: out of the cyclic collector's reach, so that its full collections, which
        # scanned all of it in a few hundred milliseconds while requests waited, scan only what
        # requests allocate since.
        gc.freeze()
        return ServedModel(model, backend, predict, seconds, batcher)

    def _sample(self, name: str, version: int) -> pd.DataFrame | None:
        row = self.registry.get_version(name, version)
        try:
            return self.registry.reference_features(row)
        except IntegrityFailure:
            raise
        except EvergreenError:
            return None  # imported versions have no reference rows: no warm-up, no fast path

    def _fast_path(
        self, model: LoadedModel, sample: pd.DataFrame | None
    ) -> tuple[Callable[[pd.DataFrame], np.ndarray], str]:
        def native(frame: pd.DataFrame) -> np.ndarray:
            return np.asarray(model.flavor.predict(model.model, frame))

        device = model.flavor.device(model.model)
        if device != "cpu":
            return native, f"native-{device}"  # a GPU beats ONNX Runtime on the CPU
        onnx = self._onnx_path(model, sample)
        if onnx is not None:
            return onnx, "onnxruntime"
        on_array = model.flavor.array_predict(model.model, model.signature)
        if on_array is None:
            return native, "native"
        # checked on the warm-up rows, or on the first request when there are none
        return ArrayPath(native, on_array, f"{model.name}:{model.version}"), "native"

    def _onnx_path(
        self, model: LoadedModel, sample: pd.DataFrame | None
    ) -> Callable[[pd.DataFrame], np.ndarray] | None:
        if not self.onnx or sample is None or model.flavor.name == "onnx":
            return None
        from evergreen.flavors import onnx_runtime

        row = self.registry.get_version(model.name, model.version)
        if "sha256" not in row.exports.get("onnx", {}) or not onnx_runtime.onnx_installed():
            return None
        data = self.registry.export(model.name, model.version, "onnx")
        rows = sample.head(WARM_ROWS)
        check = onnx_runtime.verified(data, model.flavor, model.model, model.signature, rows)
        if check.data is None:
            log.warning(
                "%s:%d: the ONNX export is not used: %s", model.name, model.version, check.reason
            )
            return None
        served = check.data
        matrix = onnx_runtime.matrix_input(served)
        if matrix is not None:  # the same graph fed one array, checked like the export
            fed = onnx_runtime.verified(matrix, model.flavor, model.model, model.signature, rows)
            served = fed.data if fed.data is not None else served
        graph = onnx_runtime.Graph(onnx_runtime.session(served, threads=1))
        return OnnxPath(graph, model.signature.input_names)
