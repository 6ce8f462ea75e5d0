"""The values that flow between pipeline steps, and how a cached step keeps them.

Inside a run every artifact is a :class:`Lazy`: a value, or a way to load it, with the
fingerprint that identifies it. A cached step's outputs are loaded only when a step that does
run reads them, so a fully cached rerun loads (almost) nothing.

Kept outputs: small JSON values inline in the cache row; data frames as Parquet and anything
else (models, arrays) with cloudpickle, each as a blob in the artifact store, read back through
its verified read (a blob whose bytes no longer match its sha256 is never unpickled).
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable
from typing import Any

import pandas as pd

from evergreen.errors import IntegrityFailure
from evergreen.store.artifacts import ArtifactStore

_UNSET = object()
INLINE_LIMIT = 64 * 1024  # JSON values up to this size live in the cache row itself


class Lazy:
    """An artifact: its value (loaded on first use) and its fingerprint."""

    def __init__(
        self,
        value: Any = _UNSET,
        *,
        loader: Callable[[], Any] | None = None,
        key: str | None = None,
    ) -> None:
        if value is _UNSET and loader is None:
            raise ValueError("a Lazy needs a value or a loader")
        self._value, self._loader = value, loader
        self.key = key  # what identifies the value when its producer does not (a dataset id)
        self._lock = threading.Lock()  # steps running at the same time may read it together

    def get(self) -> Any:
        if self._value is _UNSET:
            with self._lock:
                if self._value is _UNSET:
                    assert self._loader is not None
                    self._value = self._loader()
                    self._loader = None
        return self._value

    @property
    def loaded(self) -> bool:
        return self._value is not _UNSET


def encode(value: Any, artifacts: ArtifactStore) -> dict[str, Any]:
    """How ``value`` is kept: inline JSON, or a blob (sha256) with its codec."""
    if isinstance(value, pd.DataFrame):
        buffer = io.BytesIO()
        value.to_parquet(buffer, index=True)
        return {"codec": "parquet", "sha256": artifacts.put_bytes(buffer.getvalue()).sha256}
    try:
        text = json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        text = None
    if text is not None and len(text) <= INLINE_LIMIT and json.loads(text) == value:
        return {"codec": "json", "value": value}
    import cloudpickle

    data = cloudpickle.dumps(value)
    return {"codec": "pickle", "sha256": artifacts.put_bytes(data).sha256}


def decoder(
    kept: dict[str, Any],
    artifacts: ArtifactStore,
    damaged: Callable[[IntegrityFailure], Exception] | None = None,
) -> Lazy:
    """A :class:`Lazy` that loads what :func:`encode` kept; a blob whose bytes no longer match
    raises ``damaged(failure)`` (by default the failure itself)."""
    codec = kept.get("codec")
    if codec == "json":
        return Lazy(kept.get("value"))
    if codec not in ("parquet", "pickle"):
        raise ValueError(f"unknown artifact codec {codec!r}")
    sha256 = str(kept["sha256"])

    def load() -> Any:
        try:
            data = artifacts.get_bytes(sha256)  # verified: never unpickles changed bytes
        except IntegrityFailure as failure:
            raise (damaged(failure) if damaged else failure) from None
        if codec == "parquet":
            return pd.read_parquet(io.BytesIO(data))
        import pickle

        return pickle.loads(data)  # bytes evergreen wrote, checked against their sha256

    return Lazy(loader=load)


def readable(kept: dict[str, Any], artifacts: ArtifactStore) -> bool:
    """Whether a kept output's blob is still in the store (inline values always are)."""
    return kept.get("codec") == "json" or artifacts.exists(str(kept["sha256"]))
