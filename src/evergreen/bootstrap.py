"""Composition: the only place that turns ``Settings`` into concrete stores and services.

Only what every command needs (the metadata database, the artifact store and the dataset store)
is imported up front; the registry, the run, event and prediction stores and the services are
imported when first used, so that a command such as ``evergreen data snapshot`` starts quickly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from evergreen.core.clock import Clock, SystemClock
from evergreen.data.snapshots import DatasetStore
from evergreen.settings import Settings
from evergreen.store.artifacts import ArtifactStore
from evergreen.store.database import Database
from evergreen.store.datasets import DatasetRepository

if TYPE_CHECKING:
    from fastapi import FastAPI

    from evergreen.controller.controller import Controller
    from evergreen.controller.service import Service
    from evergreen.monitoring.alerts import AlertEngine
    from evergreen.monitoring.drift_monitor import DriftMonitor
    from evergreen.monitoring.monitor import Monitor
    from evergreen.pipeline.project import Project
    from evergreen.pipeline.runner import PipelineRunner
    from evergreen.registry import Registry
    from evergreen.serving.app import GatewayConfig
    from evergreen.serving.endpoints import Endpoints
    from evergreen.store.alerts import AlertRepository
    from evergreen.store.endpoints import FeedbackRepository
    from evergreen.store.events import EventRepository
    from evergreen.store.predictions import PredictionRepository
    from evergreen.store.rollouts import RolloutRepository
    from evergreen.store.runs import RunRepository


@dataclass
class Context:
    """Everything a command, the gateway or the controller needs, wired once."""

    settings: Settings
    db: Database
    artifacts: ArtifactStore
    clock: Clock = field(default_factory=SystemClock)

    def __post_init__(self) -> None:
        self.datasets = DatasetStore(DatasetRepository(self.db), self.artifacts, self.clock)

    @cached_property
    def registry(self) -> Registry:
        from evergreen.registry import Registry
        from evergreen.store.models import ModelRepository

        return Registry(ModelRepository(self.db), self.artifacts, self.clock)

    @cached_property
    def runs(self) -> RunRepository:
        from evergreen.store.runs import RunRepository

        return RunRepository(self.db)

    @cached_property
    def events(self) -> EventRepository:
        from evergreen.store.events import EventRepository

        return EventRepository(self.db)

    @cached_property
    def predictions(self) -> PredictionRepository:
        from evergreen.store.predictions import PredictionRepository

        return PredictionRepository(self.db)

    @cached_property
    def endpoints(self) -> Endpoints:
        from evergreen.serving.endpoints import Endpoints
        from evergreen.store.endpoints import EndpointRepository

        return Endpoints(EndpointRepository(self.db), self.registry, self.clock)

    @cached_property
    def feedback(self) -> FeedbackRepository:
        from evergreen.store.endpoints import FeedbackRepository

        return FeedbackRepository(self.db)

    @cached_property
    def alerts(self) -> AlertRepository:
        from evergreen.store.alerts import AlertRepository

        return AlertRepository(self.db)

    @cached_property
    def rollouts(self) -> RolloutRepository:
        from evergreen.store.rollouts import RolloutRepository

        return RolloutRepository(self.db)

    def judge(self, endpoint: str) -> dict[str, Any]:
        """The serving experiment's verdict on ``endpoint`` (what level 2 decides on)."""
        from evergreen.serving.experiment import judge_endpoint

        return judge_endpoint(
            self.registry, self.endpoints, self.predictions, self.artifacts, self.feedback, endpoint
        )

    def close(self) -> None:
        self.db.dispose()


def build(settings: Settings | None = None, clock: Clock | None = None) -> Context:
    settings = settings or Settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_db_url)
    artifacts = ArtifactStore(settings.resolved_artifacts_url)
    return Context(settings, db, artifacts, clock or SystemClock())


def pipeline_runner(ctx: Context) -> PipelineRunner:
    from evergreen.pipeline.runner import PipelineRunner

    return PipelineRunner(
        ctx.datasets,
        ctx.registry,
        ctx.runs,
        ctx.artifacts,
        ctx.clock,
        executor=ctx.settings.executor,
    )


def controller(
    ctx: Context,
    projects: dict[str, Project],
    *,
    lease: timedelta | None = None,
    owner: str | None = None,
) -> Controller:
    from evergreen.controller.controller import Controller
    from evergreen.controller.delivery import Delivery

    delivery = Delivery(ctx.registry, ctx.endpoints, ctx.rollouts, ctx.judge, ctx.clock)
    return Controller(
        projects,
        pipeline_runner(ctx),
        ctx.events,
        ctx.datasets,
        ctx.runs,
        ctx.clock,
        lease=lease or timedelta(seconds=ctx.settings.controller_lease_seconds),
        owner=owner,
        delivery=delivery,
    )


def drift_monitor(ctx: Context) -> DriftMonitor:
    from evergreen.monitoring.drift_monitor import DriftMonitor

    return DriftMonitor(ctx.registry, ctx.predictions, ctx.artifacts, ctx.events, ctx.clock)


def monitor(ctx: Context) -> Monitor:
    from evergreen.monitoring.monitor import Monitor

    return Monitor(ctx.registry, ctx.predictions, ctx.artifacts, ctx.events, ctx.clock)


def alert_engine(ctx: Context) -> AlertEngine:
    from evergreen.monitoring.alerts import AlertEngine

    return AlertEngine(ctx.alerts, ctx.clock)


def service(
    ctx: Context,
    projects: dict[str, Project],
    interval: float = 10.0,
    *,
    using: Controller | None = None,
) -> Service:
    """The control loop over ``projects`` (with ``using``: around that controller)."""
    from evergreen.controller.service import Service

    return Service(
        using or controller(ctx, projects),
        monitor(ctx),
        interval,
        alerts=alert_engine(ctx),
    )


def gateway_app(
    ctx: Context,
    *,
    poll_interval: float = 1.0,
    flush_interval: float = 1.0,
    config: GatewayConfig | None = None,
) -> FastAPI:
    """The inference gateway, logging predictions to this context's stores. ``config`` (its
    tokens default to the settings') overrides ``poll_interval``."""
    from dataclasses import replace

    from evergreen.registry.lineage import model_lineage
    from evergreen.serving.app import GatewayConfig, create_app
    from evergreen.serving.prediction_log import PredictionLogWriter

    config = config or GatewayConfig(poll_interval=poll_interval)
    if config.api_token is None:
        config = replace(config, api_token=ctx.settings.api_token)
    if config.inference_token is None:
        config = replace(config, inference_token=ctx.settings.inference_token)
    writer = PredictionLogWriter(
        ctx.artifacts, ctx.predictions, flush_interval=flush_interval, in_process=False
    )

    def lineage(name: str, version: int) -> dict[str, Any]:
        return model_lineage(ctx.registry, ctx.runs, ctx.events, ctx.datasets, name, version)

    return create_app(ctx.registry, writer, config=config, lineage=lineage)


GATEWAY_CONFIG_ENV = "EVERGREEN_GATEWAY_CONFIG"


def gateway_from_environment() -> FastAPI:
    """The gateway app of one worker process (``evergreen serve --workers N``): settings from
    the environment, the gateway's configuration from ``EVERGREEN_GATEWAY_CONFIG`` (JSON)."""
    import os

    from evergreen.serving.app import GatewayConfig

    raw = os.environ.get(GATEWAY_CONFIG_ENV)
    config = GatewayConfig.from_json(raw) if raw else GatewayConfig()
    if config.access_log:
        from evergreen.serving.access_log import configure

        configure()
    return gateway_app(build(), config=config)
