"""An endpoint's traffic policy: weighted variants (A/B/n) with sticky routing, and shadows.

A policy is plain data (validated with pydantic, stored as JSON in the metadata database). Each
variant and shadow names a model reference: ``NAME`` or ``NAME@production`` (the production
version), ``NAME@STAGE``, ``NAME@ALIAS``, or a pinned ``NAME:VERSION``.

Routing is stateless: with a routing key (a request header named by ``sticky``), the key's hash
picks the variant, so a caller keeps its variant on every gateway process and across restarts;
without one, the choice is random by weight.
"""

from __future__ import annotations

import hashlib
import random
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from evergreen.core.ids import ModelRef
from evergreen.errors import InvalidInput

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_name(value: str, what: str) -> str:
    if not _NAME.match(value):
        raise ValueError(
            f"{what} {value!r} must be 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return value


def _check_ref(value: str) -> str:
    try:
        ModelRef.parse(value)
    except InvalidInput as exc:
        raise ValueError(str(exc)) from None
    return value


class Variant(BaseModel):
    """One arm of the experiment: a model reference and its share of the traffic."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    model: str = Field(description="NAME, NAME@STAGE, NAME@ALIAS or NAME:VERSION")
    weight: float = Field(default=1.0, ge=0.0, description="relative share of traffic")

    _name = field_validator("name")(lambda v: check_name(v, "variant name"))
    _model = field_validator("model")(_check_ref)


class Shadow(BaseModel):
    """A variant that gets a copy of (a sample of) the requests; its answers are only logged."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    model: str
    sample: float = Field(default=1.0, gt=0.0, le=1.0, description="share of requests copied")

    _name = field_validator("name")(lambda v: check_name(v, "shadow name"))
    _model = field_validator("model")(_check_ref)


class EndpointPolicy(BaseModel):
    """Which versions answer an endpoint's requests, and in what shares."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    variants: tuple[Variant, ...] = Field(min_length=1)
    shadows: tuple[Shadow, ...] = ()
    sticky: str | None = Field(
        default=None, description="request header whose value keeps a caller on one variant"
    )

    @model_validator(mode="after")
    def _consistent(self) -> EndpointPolicy:
        names = [v.name for v in self.variants] + [s.name for s in self.shadows]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"variant and shadow names must be unique; repeated: {duplicated}")
        if sum(v.weight for v in self.variants) <= 0:
            raise ValueError("at least one variant needs a weight above 0")
        return self

    @property
    def primary(self) -> Variant:
        """The variant others are compared with: the first one listed."""
        return self.variants[0]

    @classmethod
    def single(cls, model: str) -> EndpointPolicy:
        """The implicit policy of a model served by name: its production version only."""
        return cls(variants=(Variant(name="production", model=f"{model}@production"),))

    @classmethod
    def parse(cls, data: Any, where: str = "the policy") -> EndpointPolicy:
        """Validate JSON-like data, raising ``InvalidInput`` that names each bad field."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'policy'}: {e['msg']}"
                for e in exc.errors()
            )
            raise InvalidInput(f"invalid endpoint policy in {where}: {problems}") from None

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def choose(weights: list[float], key: str | None, rng: random.Random | None = None) -> int:
    """The index picked by weight: from the key's hash when given (sticky), else at random."""
    total = sum(weights)
    if key is not None:
        digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
        point = int.from_bytes(digest, "big") / 2**64 * total
    else:
        point = (rng or random).random() * total
    running = 0.0
    for index, weight in enumerate(weights):
        running += weight
        if point < running:
            return index
    return max(i for i, w in enumerate(weights) if w > 0)  # float rounding at the very top


def sampled(share: float, rng: random.Random | None = None) -> bool:
    """Whether a shadow with this sample share gets a copy of the request."""
    return share >= 1.0 or (rng or random).random() < share
