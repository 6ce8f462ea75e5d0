"""Reading stored documents (dicts, YAML) into models, with errors that name the bad key.

Every ``from_dict``/``from_yaml`` in this package goes through :func:`parse_model`, which turns
pydantic's ``ValidationError`` into an ``InvalidInput`` saying where the document came from,
which key is wrong (and which column it belongs to), and what was expected instead.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from evergreen.errors import InvalidInput

M = TypeVar("M", bound=BaseModel)

_MAX_PROBLEMS = 10


def parse_model(model: type[M], data: object, *, source: str, what: str) -> M:
    """Validate ``data`` as ``model``; raise ``InvalidInput`` naming ``source`` and each bad key."""
    if not isinstance(data, Mapping):
        raise InvalidInput(
            f"{source} is not a valid {what}: expected a mapping of keys to values at the top "
            f"level, found {type(data).__name__}"
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [_describe(model, data, error) for error in exc.errors()]
        shown = "; ".join(problems[:_MAX_PROBLEMS])
        more = len(problems) - _MAX_PROBLEMS
        suffix = f" (and {more} more)" if more > 0 else ""
        raise InvalidInput(f"{source} is not a valid {what}: {shown}{suffix}") from None


def load_yaml(text: str, *, source: str) -> object:
    """Parse YAML text safely; raise ``InvalidInput`` naming ``source`` on a syntax error."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{source} is not valid YAML: {exc}") from None


def _describe(model: type[BaseModel], data: object, error: ErrorDetails) -> str:
    loc = tuple(error["loc"])
    kind = error["type"]
    if kind in ("extra_forbidden", "missing") and loc and isinstance(loc[-1], str):
        where, key = _where(data, loc[:-1]), loc[-1]
        if kind == "missing":
            return f"{where}: missing required key {key!r}"
        allowed = sorted(_model_at(model, loc[:-1]).model_fields)
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{where}: unknown key {key!r}{hint}; allowed keys are {', '.join(allowed)}"
    message = error["msg"].removeprefix("Value error, ")
    got = "" if kind.startswith("value_error") else f" (got {error['input']!r})"
    if loc and isinstance(loc[-1], str):
        return f"{_where(data, loc[:-1])}, key {loc[-1]!r}: {message}{got}"
    return f"{_where(data, loc)}: {message}{got}"


def _where(data: object, loc: Sequence[int | str]) -> str:
    """A readable location such as ``columns[2] (column 'temp')``."""
    text = ""
    node: object = data
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
            node = node[part] if isinstance(node, list) and -len(node) <= part < len(node) else None
            label = _label(node)
            if label:
                text += f" ({label})"
        else:
            text += f".{part}" if text else part
            node = node.get(part) if isinstance(node, Mapping) else None
    return text or "top level"


def _label(node: object) -> str:
    if isinstance(node, Mapping):
        for key in ("name", "column"):
            value = node.get(key)
            if isinstance(value, str):
                return f"column {value!r}"
    return ""


def _model_at(root: type[BaseModel], loc: Sequence[int | str]) -> type[BaseModel]:
    """The model class that validates the object at ``loc`` (best effort: falls back to root)."""
    current = root
    for part in loc:
        if isinstance(part, str) and part in current.model_fields:
            inner = _inner_model(current.model_fields[part].annotation)
            if inner is None:
                return root
            current = inner
    return current


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        for argument in typing.get_args(annotation):
            found = _inner_model(argument)
            if found is not None:
                return found
    return None
