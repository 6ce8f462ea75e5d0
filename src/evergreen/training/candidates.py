"""Candidates: the estimators (or configurations) a run tries, each with the hyper-parameter
space its search explores, and how that search runs.

A project lists candidates; each is a factory ``model(**params)`` that builds a fresh, unfitted
estimator, and a space of parameters to draw ``params`` from::

    Candidate("forest", lambda **p: RandomForestRegressor(**p),
              space={"n_estimators": Int(50, 400, log=True), "max_depth": Int(3, 20)})

A candidate without a space is one configuration (one trial). The best trial of all candidates
on the validation rows wins; it is refitted on all training rows and judged on a holdout no
trial saw.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from evergreen.core.ids import check_name
from evergreen.errors import InvalidInput


class Int(BaseModel):
    """An integer in ``[low, high]`` (log-uniform with ``log=True``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["int"] = "int"
    low: int
    high: int
    log: bool = False
    step: int = Field(default=1, ge=1)

    def __init__(self, low: int, high: int, **kwargs: Any) -> None:
        super().__init__(low=low, high=high, **kwargs)

    @model_validator(mode="after")
    def _bounds(self) -> Int:
        if self.low > self.high:
            raise ValueError(f"low {self.low} is above high {self.high}")
        if self.log and self.low < 1:
            raise ValueError("a log-scaled integer needs low >= 1")
        if self.log and self.step != 1:
            raise ValueError("a log-scaled integer takes step 1")
        return self


class Float(BaseModel):
    """A float in ``[low, high]`` (log-uniform with ``log=True``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["float"] = "float"
    low: float
    high: float
    log: bool = False

    def __init__(self, low: float, high: float, **kwargs: Any) -> None:
        super().__init__(low=low, high=high, **kwargs)

    @model_validator(mode="after")
    def _bounds(self) -> Float:
        if self.low > self.high:
            raise ValueError(f"low {self.low} is above high {self.high}")
        if self.log and self.low <= 0:
            raise ValueError("a log-scaled float needs low > 0")
        return self


class Choice(BaseModel):
    """One of ``options`` (strings, numbers, booleans or None)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["choice"] = "choice"
    options: tuple[str | int | float | bool | None, ...]

    def __init__(self, options: Any, **kwargs: Any) -> None:
        super().__init__(options=tuple(options), **kwargs)

    @model_validator(mode="after")
    def _some(self) -> Choice:
        if not self.options:
            raise ValueError("a choice needs at least one option")
        return self


Param = Int | Float | Choice


@dataclass
class Candidate:
    """One estimator family: ``model(**params)`` builds it, ``space`` says which ``params`` the
    search draws, ``fixed`` are passed to every trial unchanged; ``trials`` overrides the
    project's :class:`SearchSpec.trials` for this candidate."""

    name: str
    model: Callable[..., Any]
    space: Mapping[str, Param] = field(default_factory=dict)
    fixed: Mapping[str, Any] = field(default_factory=dict)
    trials: int | None = None

    def __post_init__(self) -> None:
        check_name(self.name, "candidate name")
        if not callable(self.model):
            raise InvalidInput(f"candidate {self.name!r}: model must be callable (**params)")
        for key, param in self.space.items():
            if not isinstance(param, Int | Float | Choice):
                raise InvalidInput(
                    f"candidate {self.name!r}: parameter {key!r} must be Int(...), Float(...) "
                    f"or Choice([...]), not {type(param).__name__}"
                )
        clash = sorted(set(self.space) & set(self.fixed))
        if clash:
            raise InvalidInput(f"candidate {self.name!r}: {clash} are both searched and fixed")
        if self.trials is not None and self.trials < 1:
            raise InvalidInput(f"candidate {self.name!r}: trials must be at least 1")

    def n_trials(self, default: int) -> int:
        """How many trials this candidate gets: one without a space."""
        if not self.space:
            return 1
        return self.trials if self.trials is not None else default

    def spec(self) -> dict[str, Any]:
        """The JSON-ready part, recorded with every run."""
        return {
            "name": self.name,
            "model": getattr(self.model, "__qualname__", repr(self.model)),
            "space": {key: param.model_dump() for key, param in self.space.items()},
            "fixed": {key: _json_value(value) for key, value in self.fixed.items()},
            "trials": self.trials,
        }


def _json_value(value: Any) -> Any:
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return repr(value)


class SearchSpec(BaseModel):
    """How candidates are searched.

    - ``trials``: trials per candidate that has a space (a candidate may override it);
    - ``validation``: share of the training rows held back to score trials (split the way the
      project splits its holdout); the winner is refitted on all training rows;
    - ``timeout_seconds``: a trial running longer is stopped and recorded as timed out;
    - ``pruning``: stop a trial early when, at one of ``budgets`` (shares of the fit rows it is
      trained on, rising to 1.0), its validation score is worse than the median of the finished
      trials' scores at that budget (after ``startup_trials`` finished trials);
    - ``executor``: ``inline``, ``process`` (a local process pool, the default), ``ray`` (start or
      join a local Ray instance) or ``ray://host:port`` (a Ray cluster); ``EVERGREEN_EXECUTOR``
      overrides it; ``workers``: trials at a time (default: the machine's cores);
    - ``seed``: the sampler's seed, so a search reproduces.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: str = "search/v1"
    trials: int = Field(default=8, ge=1)
    validation: float = Field(default=0.2, gt=0.0, lt=1.0)
    timeout_seconds: float | None = Field(default=600.0, gt=0.0)
    pruning: bool = True
    budgets: tuple[float, ...] = (0.3, 1.0)
    startup_trials: int = Field(default=3, ge=1)
    executor: str | None = None
    workers: int | None = Field(default=None, ge=1)
    seed: int = 0

    @model_validator(mode="after")
    def _budgets(self) -> SearchSpec:
        b = self.budgets
        if not b or b[-1] != 1.0 or any(not 0.0 < x <= 1.0 for x in b) or list(b) != sorted(b):
            raise ValueError("budgets must rise within (0, 1] and end with 1.0")
        return self
