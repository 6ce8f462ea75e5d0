"""A project: what to train on, how, and when to retrain, written in Python by the user.

A project file is any Python file that defines ``project = evergreen.Project(...)``; one ships in
``examples/``. Relative data paths are resolved against the project file's folder.
"""

from __future__ import annotations

import runpy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from evergreen.core.ids import check_name
from evergreen.data.splits import SplitSpec
from evergreen.errors import InvalidInput, NotFound
from evergreen.pipeline.alerting import AlertRule, Notifier
from evergreen.pipeline.graph import Graph, assemble
from evergreen.pipeline.monitors import MonitorSpec
from evergreen.pipeline.rollout import RolloutSpec
from evergreen.pipeline.steps import Step
from evergreen.pipeline.triggers import Triggers
from evergreen.training.candidates import Candidate, SearchSpec
from evergreen.training.gate import GateSpec
from evergreen.training.metrics import DEFAULT_METRIC, get_metric
from evergreen.validation.drift.spec import DriftSpec


class DriftPolicy(BaseModel):
    """How live inputs are compared with the training data of the serving version.

    ``spec`` says how each window is tested and when it counts as drifted; its defaults are the
    calibrated alarm (Benjamini-Hochberg across columns, an effect-size floor, see
    :class:`~evergreen.validation.DriftSpec`), and ``spec.persistence`` > 1 makes the monitor
    wait for that many drifted windows in a row. ``p_threshold`` and ``share_threshold`` may be
    given here for short, as the example project does; they go into ``spec``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: str = "drift/v2"
    min_rows: int = Field(default=100, ge=10)
    window_rows: int = Field(default=500, ge=10)
    reference_rows: int = Field(default=5000, ge=100)
    columns: tuple[str, ...] | None = None
    spec: DriftSpec = Field(default_factory=DriftSpec)

    @model_validator(mode="before")
    @classmethod
    def _thresholds_into_spec(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not {"p_threshold", "share_threshold"} & data.keys():
            return data
        data = dict(data)
        spec = dict(data.get("spec") or {})
        for key in ("p_threshold", "share_threshold"):
            if key in data:
                spec[key] = data.pop(key)
        if data.get("kind") == "drift/v1":  # stored before calibration: keep its decisions
            spec.setdefault("correction", "none")
            spec.setdefault("min_effect", 0.0)
            data["kind"] = "drift/v2"
        data["spec"] = spec
        return data


def _default_model(task: str) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    if task == "classification":
        return HistGradientBoostingClassifier(random_state=0)
    return HistGradientBoostingRegressor(random_state=0)


@dataclass
class Project:
    """Everything the pipeline needs to (re)train one model.

    ``prepare`` turns the raw table into the model's table (features plus the target); the
    gateway receives the prepared feature columns. ``model`` builds a fresh estimator; or
    ``candidates`` list several, each with a hyper-parameter space that ``search`` explores.
    ``steps`` adds steps to the pipeline or replaces built-in ones (see
    :mod:`evergreen.pipeline.steps`).
    """

    name: str
    source: str
    target: str
    task: Literal["regression", "classification"] = "regression"
    prepare: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    model: Callable[[], Any] | None = None
    features: list[str] | None = None
    metric: str | None = None
    candidates: list[Candidate] | None = None
    search: SearchSpec = field(default_factory=SearchSpec)
    steps: list[Step] = field(default_factory=list)
    split: SplitSpec = field(default_factory=SplitSpec)
    gate: GateSpec = field(default_factory=GateSpec)
    drift: DriftPolicy = field(default_factory=DriftPolicy)
    triggers: Triggers = field(default_factory=Triggers)
    monitors: MonitorSpec = field(default_factory=MonitorSpec)
    alerts: list[AlertRule] = field(default_factory=list)
    notifiers: list[Notifier] = field(default_factory=list)
    rollout: RolloutSpec = field(default_factory=RolloutSpec)
    automation: int = 1
    root: Path = field(default_factory=Path.cwd)
    file: Path | None = None  # the project file it was loaded from, recorded with each run

    def __post_init__(self) -> None:
        check_name(self.name, "project name")
        if self.task not in ("regression", "classification"):
            raise InvalidInput(f"project {self.name!r}: task must be regression or classification")
        if self.automation not in (0, 1, 2):
            raise InvalidInput(
                f"project {self.name!r}: automation level must be 0 (manual), 1 (continuous "
                "training) or 2 (continuous delivery)"
            )
        self._check_alerts()
        metric = get_metric(self.metric or DEFAULT_METRIC[self.task])
        if metric.task != self.task:
            raise InvalidInput(f"metric {metric.name!r} is for {metric.task}, not {self.task}")
        self.metric = metric.name
        if self.candidates is not None:
            if not self.candidates:
                raise InvalidInput(f"project {self.name!r}: candidates is empty")
            if self.model is not None:
                raise InvalidInput(
                    f"project {self.name!r}: give either model= or candidates=, not both"
                )
            names = [c.name for c in self.candidates]
            if len(set(names)) != len(names):
                raise InvalidInput(f"project {self.name!r}: candidate names repeat: {names}")
        self.graph()  # a step that reads what nothing writes is an error now, not mid-run

    def _check_alerts(self) -> None:
        names = [n.name for n in self.notifiers]
        if len(set(names)) != len(names):
            raise InvalidInput(f"project {self.name!r}: notifier names repeat: {names}")
        known = {"log", *names}
        for rule in self.alerts:
            unknown = [n for n in rule.notify if n not in known]
            if unknown:
                raise InvalidInput(
                    f"project {self.name!r}: alert rule {rule.name!r} notifies unknown "
                    f"notifier(s) {unknown}; known: {sorted(known)}"
                )

    def graph(self) -> Graph:
        """The pipeline: the built-in steps with this project's own."""
        from evergreen.pipeline.builtin import builtin_steps

        return assemble(builtin_steps(), self.steps)

    @property
    def metric_name(self) -> str:
        return self.metric or DEFAULT_METRIC[self.task]

    def source_path(self, override: str | None = None) -> str:
        source = override or self.source
        path = Path(source)
        return source if path.is_absolute() or "://" in source else str(self.root / path)

    def build_model(self) -> Any:
        return self.model() if self.model is not None else _default_model(self.task)

    def prepared(self, raw: pd.DataFrame) -> pd.DataFrame:
        frame = self.prepare(raw.copy()) if self.prepare is not None else raw
        if not isinstance(frame, pd.DataFrame):
            raise InvalidInput(f"project {self.name!r}: prepare() must return a DataFrame")
        if self.target not in frame.columns:
            raise InvalidInput(
                f"project {self.name!r}: target column {self.target!r} is not in the prepared "
                f"data (columns: {list(frame.columns)})"
            )
        return frame

    def feature_columns(self, prepared: pd.DataFrame) -> list[str]:
        if self.features is None:
            return [str(c) for c in prepared.columns if c != self.target]
        missing = [c for c in self.features if c not in prepared.columns]
        if missing:
            raise InvalidInput(
                f"project {self.name!r}: feature column(s) {missing} not in the data"
            )
        return list(self.features)

    def spec(self) -> dict[str, Any]:
        """The JSON-ready, callable-free part of the project, stored with every run."""
        return {
            "name": self.name,
            "source": self.source,
            "target": self.target,
            "task": self.task,
            "metric": self.metric_name,
            "features": self.features,
            "candidates": [c.spec() for c in self.candidates or []],
            "search": self.search.model_dump(),
            "steps": [s.name for s in self.steps],
            "split": self.split.model_dump(),
            "gate": self.gate.model_dump(),
            "drift": self.drift.model_dump(),
            "triggers": self.triggers.model_dump(),
            "monitors": self.monitors.model_dump(),
            "alerts": [rule.model_dump() for rule in self.alerts],
            "notifiers": [n.model_dump() for n in self.notifiers],
            "rollout": self.rollout.model_dump(),
            "automation": self.automation,
        }


def load_project(path: str | Path) -> Project:
    """Run a project file and return the ``project`` it defines."""
    file = Path(path)
    if not file.is_file():
        raise NotFound(f"{path}: no such project file")
    try:
        namespace = runpy.run_path(str(file))
    except SyntaxError as exc:
        raise InvalidInput(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None
    except ValidationError as exc:  # a bad SplitSpec, Int(...), GateSpec, ...
        first = exc.errors()[0]
        raise InvalidInput(f"{path}: {exc.title}: {first['msg']}") from None
    project = namespace.get("project")
    if not isinstance(project, Project):
        raise InvalidInput(f"{path}: defines no `project = evergreen.Project(...)`")
    project.root = file.resolve().parent
    project.file = file.resolve()
    return project
