"""The protocol-independent core of the gateway: route a request to a variant, predict
(batched), copy it to shadows off the request path (``shadows.py``), log it, count it.

Protocols (V2 REST, V2 gRPC, MLflow scoring) parse their wire format against the routed
version's signature and call ``predict``; they never touch models directly.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evergreen.errors import EvergreenError, InvalidInput
from evergreen.flavors.base import LoadedModel
from evergreen.serving.frames import numeric_block
from evergreen.serving.in_flight import InFlight
from evergreen.serving.loader import ServedModel
from evergreen.serving.metrics import GatewayMetrics
from evergreen.serving.model_cache import ModelCache, ServedShadow
from evergreen.serving.prediction_log import PredictionLogWriter, Served
from evergreen.serving.shadows import BUSY_SHARE, ShadowCopies

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Route:
    """Where one request goes: the endpoint, the variant's name and the version serving it."""

    endpoint: str
    variant: str
    served: ServedModel
    shadows: tuple[ServedShadow, ...] = ()

    @property
    def model(self) -> LoadedModel:
        return self.served.model


class Gateway:
    """Routes, predicts, shadows and logs; one per app, shared by every protocol."""

    def __init__(
        self,
        cache: ModelCache,
        log_writer: PredictionLogWriter | None = None,
        metrics: GatewayMetrics | None = None,
        *,
        in_flight: InFlight | None = None,
        shadow_busy_share: float = BUSY_SHARE,
    ) -> None:
        self.cache = cache
        self.in_flight = in_flight
        self.log_writer = log_writer
        self.metrics = metrics or GatewayMetrics()
        self.shadows = ShadowCopies(self._record_shadow, self.metrics, busy_share=shadow_busy_share)

    @property
    def ready(self) -> bool:
        return self.cache.ready

    async def route(
        self,
        endpoint: str,
        version: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Route:
        """The variant that answers: by the endpoint's policy (sticky on the header the policy
        names, looked up in ``headers``), or the version asked for (loaded on demand when it is
        not served)."""
        if version is None:
            served_endpoint = self.cache.get(endpoint)
            sticky = served_endpoint.policy.sticky
            key = headers.get(sticky) if sticky and headers is not None else None
            variant = served_endpoint.pick(key)
            return Route(endpoint, variant.name, variant.served, served_endpoint.shadows)
        found = self.cache.endpoints.get(endpoint)
        variant_at = found.variant_serving(version) if found is not None else None
        if variant_at is not None:
            return Route(endpoint, variant_at.name, variant_at.served)
        served = await asyncio.to_thread(self.cache.get_version, endpoint, version)
        return Route(endpoint, f"version-{version}", served)

    async def predict(
        self, route: Route, frame: pd.DataFrame, request_id: str, *, protocol: str = "v2"
    ) -> np.ndarray:
        """The routed version's outputs for ``frame``; raises ``InvalidInput`` for rows the
        signature or the model refuses (a 400)."""
        started = time.perf_counter()
        model = route.model
        try:
            inputs = model.signature.conform(frame)
        except InvalidInput:
            self.count_error(route, protocol, 400)
            raise
        try:
            alone = self.in_flight is not None and await self.in_flight.alone()
            outputs = await route.served.predict_async(
                inputs, alone=alone, in_flight=self.in_flight
            )
        except (ValueError, TypeError) as exc:
            self.count_error(route, protocol, 400)
            message = f"model {model.name}:{model.version} cannot predict on this input: {exc}"
            self._log(route, request_id, inputs, None, started, message)
            raise InvalidInput(message) from None
        except EvergreenError:
            self.count_error(route, protocol, 503)
            raise
        seconds = time.perf_counter() - started
        self.metrics.requests.labels(route.endpoint, route.variant, protocol).inc()
        self.metrics.latency.labels(route.endpoint, route.variant).observe(seconds)
        # the rows as one array, taken once for the log record and the shadows' batch
        block = numeric_block(inputs) if self.log_writer is not None or route.shadows else None
        self._log(route, request_id, inputs, outputs, started, block=block)
        if route.shadows:
            self.shadows.send(route.endpoint, route.shadows, inputs, request_id, block)
        return outputs

    def count_error(self, route: Route, protocol: str, status: int) -> None:
        """Count a request the protocol refused before ``predict`` (it counts its own)."""
        self.metrics.errors.labels(route.endpoint, route.variant, protocol, str(status)).inc()

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait (up to ``timeout``) for shadow copies still running, so they are logged."""
        await self.shadows.drain(timeout)

    def close(self) -> None:
        self.shadows.close()

    # -- the prediction log -----------------------------------------------------------------
    def _log(
        self,
        route: Route,
        request_id: str,
        inputs: pd.DataFrame,
        outputs: np.ndarray | None,
        started: float,
        error: str | None = None,
        *,
        block: np.ndarray | None = None,
    ) -> None:
        if self.log_writer is None:
            return
        latency_ms = (time.perf_counter() - started) * 1000.0
        who = Served(route.endpoint, route.variant, "primary", latency_ms, error)
        model = route.model
        try:
            self.log_writer.record(
                model.name, model.version, request_id, inputs, outputs, who, block=block
            )
        except EvergreenError as exc:  # a prediction is answered even if it cannot be logged
            log.error(
                "prediction %s of %s:%d not logged: %s", request_id, model.name, model.version, exc
            )

    def _record_shadow(
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
        """Log shadow answers: ``inputs`` and ``outputs`` hold the copies' rows in order."""
        if self.log_writer is None:
            return
        who = Served(endpoint, variant, "shadow", latency_ms, error)
        model = served.model
        try:
            self.log_writer.record_together(  # the primary logged these inputs already
                model.name,
                model.version,
                request_ids,
                counts,
                inputs,
                outputs,
                who,
                inputs_logged=True,
            )
        except EvergreenError as exc:
            log.error(
                "%d shadow predictions of %s:%d not logged: %s",
                len(request_ids),
                model.name,
                model.version,
                exc,
            )
