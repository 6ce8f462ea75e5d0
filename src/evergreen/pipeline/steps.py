"""Pipeline steps: named units of work that read named artifacts and write others.

A project adds its own steps (feature engineering, a custom evaluation) or replaces a built-in
one by name, in Python::

    @eg.step(after="prepare", outputs=["prepared"])
    def rush_hour(prepared: pd.DataFrame) -> pd.DataFrame:
        return prepared.assign(rush=prepared["hr"].isin([7, 8, 17, 18]))

A step's inputs are its function's parameter names (or ``inputs=``); each is the artifact of
that name written by the nearest step before it. A step with one output returns the value; with
several, a dict of them. Steps are cached by a fingerprint of their inputs, their code
(:func:`code_fingerprint`) and their parameters: see :mod:`evergreen.pipeline.graph`.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from evergreen.core.ids import check_name
from evergreen.errors import InvalidInput


@dataclass(frozen=True)
class Step:
    """One node of a pipeline.

    ``after`` places a project's step right after the named one; a step named like a built-in
    replaces it (and must write the same outputs). ``cache=False`` runs it every time.
    ``params`` are passed to the function as keyword arguments and are part of the fingerprint.
    """

    name: str
    fn: Callable[..., Any]
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    after: str | None = None
    cache: bool = True
    params: Mapping[str, Any] = field(default_factory=dict)
    builtin: bool = False  # built-in steps get the run's context as their first argument
    # built-in steps: what else they depend on (the production version, the project's
    # settings), read from the run's context and made part of the fingerprint
    key: Callable[[Any], Any] | None = None

    def __post_init__(self) -> None:
        check_name(self.name, "step name")
        if not self.outputs:
            raise InvalidInput(f"step {self.name!r} writes no outputs; name them with outputs=")
        for artifact in (*self.inputs, *self.outputs):
            check_name(artifact, f"step {self.name!r} artifact name")

    def call(self, context: Any, values: Mapping[str, Any]) -> dict[str, Any]:
        """Run the function on the input values; the outputs by name, checked."""
        arguments = {name: values[name] for name in self.inputs}
        result = (
            self.fn(context, **arguments, **self.params)
            if self.builtin
            else self.fn(**arguments, **self.params)
        )
        if len(self.outputs) == 1 and not self.builtin:
            return {self.outputs[0]: result}
        if not isinstance(result, dict):
            raise InvalidInput(
                f"step {self.name!r} must return a dict of its outputs {list(self.outputs)}, "
                f"not {type(result).__name__}"
            )
        missing = [name for name in self.outputs if name not in result]
        if missing:
            raise InvalidInput(f"step {self.name!r} did not return output(s) {missing}")
        return {name: result[name] for name in self.outputs}


def step(
    name: str | None = None,
    *,
    outputs: Sequence[str] | None = None,
    inputs: Sequence[str] | None = None,
    after: str | None = None,
    cache: bool = True,
    params: Mapping[str, Any] | None = None,
) -> Callable[[Callable[..., Any]], Step]:
    """Turn a function into a :class:`Step` (see the module). Its name defaults to the
    function's, its inputs to the function's parameters other than ``params``, its one output
    to its name."""

    def wrap(fn: Callable[..., Any]) -> Step:
        fixed = dict(params or {})
        step_name = name or fn.__name__
        names = inputs
        if names is None:
            names = [p for p in inspect.signature(fn).parameters if p not in fixed]
        return Step(
            name=step_name,
            fn=fn,
            inputs=tuple(names),
            outputs=tuple(outputs or (step_name,)),
            after=after,
            cache=cache,
            params=fixed,
        )

    return wrap


def code_fingerprint(fn: Any) -> str:
    """A sha256 of what a function computes: its bytecode and constants, nested functions
    included, and the values of the plain module-level constants and functions it uses (so a
    changed ``RECENT_DAYS = 120`` or helper changes the fingerprint). Classes and modules it
    uses are represented by their qualified names; their packages' versions are part of each
    run's fingerprint instead."""
    digest = hashlib.sha256()
    _feed(digest, fn, set(), 0)
    return digest.hexdigest()


_PLAIN = (int, float, str, bytes, bool, type(None))


def _feed(digest: Any, value: Any, seen: set[int], depth: int) -> None:
    if isinstance(value, _PLAIN):
        digest.update(repr(value).encode())
        return
    if id(value) in seen or depth > 8:
        digest.update(b"<seen>")
        return
    seen.add(id(value))
    if isinstance(value, tuple | list | frozenset | set):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        digest.update(type(value).__name__.encode())
        for item in items:
            _feed(digest, item, seen, depth + 1)
        return
    if isinstance(value, dict):
        for key in sorted(value, key=repr):
            _feed(digest, key, seen, depth + 1)
            _feed(digest, value[key], seen, depth + 1)
        return
    if isinstance(value, functools.partial):
        _feed(digest, value.func, seen, depth + 1)
        _feed(digest, value.args, seen, depth + 1)
        _feed(digest, value.keywords, seen, depth + 1)
        return
    if isinstance(value, types.MethodType):
        _feed(digest, value.__func__, seen, depth + 1)
        return
    if isinstance(value, types.FunctionType):
        _feed_code(digest, value.__code__, seen, depth)
        _feed(digest, value.__defaults__, seen, depth + 1)
        _feed(digest, value.__kwdefaults__, seen, depth + 1)
        for cell in value.__closure__ or ():
            try:
                _feed(digest, cell.cell_contents, seen, depth + 1)
            except ValueError:  # an empty cell
                digest.update(b"<empty>")
        for used in _global_names(value.__code__):
            if used in value.__globals__:
                target = value.__globals__[used]
                digest.update(used.encode())
                if isinstance(target, types.FunctionType) and target.__module__ != value.__module__:
                    digest.update(f"{target.__module__}.{target.__qualname__}".encode())
                elif isinstance(target, types.ModuleType):
                    digest.update(target.__name__.encode())
                else:
                    _feed(digest, target, seen, depth + 1)
        return
    if isinstance(value, types.CodeType):
        _feed_code(digest, value, seen, depth)
        return
    if isinstance(value, type):
        digest.update(f"{value.__module__}.{value.__qualname__}".encode())
        return
    if hasattr(value, "model_dump_json"):  # pydantic specs (SplitSpec, GateSpec, ...)
        digest.update(value.model_dump_json().encode())
        return
    digest.update(f"<{type(value).__module__}.{type(value).__qualname__}>".encode())
    get_params = getattr(value, "get_params", None)  # an estimator object: its parameters
    if callable(get_params):
        _feed(digest, repr(sorted(get_params(deep=True).items(), key=repr)), seen, depth + 1)


def _feed_code(digest: Any, code: types.CodeType, seen: set[int], depth: int) -> None:
    digest.update(code.co_code)
    digest.update(repr(code.co_names).encode())
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _feed_code(digest, const, seen, depth + 1)
        else:
            _feed(digest, const, seen, depth + 1)


def _global_names(code: types.CodeType) -> list[str]:
    names = list(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names.extend(_global_names(const))
    return sorted(set(names))


def fingerprint(parts: Mapping[str, Any]) -> str:
    """The sha256 of JSON-ready ``parts`` (sorted keys; non-JSON values by repr)."""
    text = json.dumps(parts, sort_keys=True, default=repr, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
