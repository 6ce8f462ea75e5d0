"""The production model of every model, loaded and kept current with the registry.

Reads never take a lock: ``get`` reads one immutable mapping, and ``refresh`` builds the next
mapping (loading new versions first) and swaps the reference in one assignment. A request in
flight keeps the ``LoadedModel`` it started with; a version that fails to load is logged and the
version before it keeps serving.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from types import MappingProxyType

from evergreen.errors import EvergreenError, NotFound, Unavailable
from evergreen.flavors.base import LoadedModel
from evergreen.registry import Registry

log = logging.getLogger(__name__)


class ModelCache:
    """Serves each model's production version; ``start()`` keeps it current in the background."""

    def __init__(
        self,
        registry: Registry,
        *,
        poll_interval: float = 1.0,
        retry_failed_after: float = 30.0,
        max_pinned: int = 4,
    ) -> None:
        self.registry = registry
        self.poll_interval = poll_interval
        self.retry_failed_after = retry_failed_after
        self._models: Mapping[str, LoadedModel] = MappingProxyType({})
        self._ready = threading.Event()
        self._refresh_lock = threading.Lock()
        self._failed: dict[tuple[str, int, str], float] = {}
        self._pinned: OrderedDict[tuple[str, int], LoadedModel] = OrderedDict()
        self._pinned_lock = threading.Lock()
        self._max_pinned = max_pinned
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- reading ----------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """True once the first refresh has finished."""
        return self._ready.is_set()

    def served(self) -> dict[str, int]:
        """The version being served for each model."""
        return {name: model.version for name, model in self._models.items()}

    def get(self, name: str) -> LoadedModel:
        """The production version of ``name``; the caller keeps it for the whole request."""
        model = self._models.get(name)
        if model is not None:
            return model
        if not self.ready:
            raise Unavailable("the gateway is still loading its models; retry in a moment")
        served = ", ".join(sorted(self._models)) or "none"
        raise NotFound(
            f"model {name!r} is not served here (it has no loadable production version); "
            f"served models: {served}"
        )

    def get_version(self, name: str, version: int) -> LoadedModel:
        """A specific version: the production one if it matches, else loaded on demand (blocking)
        and kept in a small LRU cache."""
        current = self._models.get(name)
        if current is not None and current.version == version:
            return current
        key = (name, version)
        with self._pinned_lock:
            pinned = self._pinned.get(key)
            if pinned is not None:
                self._pinned.move_to_end(key)
                return pinned
        model = self.registry.load(name, version)
        with self._pinned_lock:
            self._pinned[key] = model
            self._pinned.move_to_end(key)
            while len(self._pinned) > self._max_pinned:
                self._pinned.popitem(last=False)
        return model

    def is_loaded(self, name: str, version: int) -> bool:
        current = self._models.get(name)
        if current is not None and current.version == version:
            return True
        with self._pinned_lock:
            return (name, version) in self._pinned

    # -- refreshing -------------------------------------------------------------------------
    def refresh(self) -> dict[str, int]:
        """Load new production versions, drop models no longer in production, swap atomically.

        Returns the versions served afterwards. Refreshes are serialized; readers never wait.
        """
        with self._refresh_lock:
            try:
                production = self.registry.production_versions()
            except EvergreenError as exc:
                log.error("cannot list production versions; keeping current models: %s", exc)
                return self.served()
            current = self._models
            nxt: dict[str, LoadedModel] = {}
            for name, row in production:
                model = current.get(name)
                if model is None or model.version != row.version:
                    model = self._load(name, row.version, row.artifact_sha256) or model
                if model is not None:
                    nxt[name] = model
            self._models = MappingProxyType(nxt)
            self._ready.set()
            return self.served()

    def _load(self, name: str, version: int, sha256: str) -> LoadedModel | None:
        key = (name, version, sha256)
        failed_at = self._failed.get(key)
        if failed_at is not None and time.monotonic() - failed_at < self.retry_failed_after:
            return None
        try:
            model = self.registry.load(name, version)
        except EvergreenError as exc:
            log.error(
                "cannot load %s:%d; the previous version keeps serving: %s", name, version, exc
            )
        except Exception:
            log.exception("cannot load %s:%d; the previous version keeps serving", name, version)
        else:
            self._failed.pop(key, None)
            log.info("loaded %s:%d", name, version)
            return model
        self._failed[key] = time.monotonic()
        return None

    # -- background refresher ---------------------------------------------------------------
    def start(self) -> None:
        """Refresh now (in the background thread) and then every ``poll_interval`` seconds."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="evergreen-model-cache", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wait_ready(self, timeout: float | None = None) -> bool:
        return self._ready.wait(timeout)

    def _run(self) -> None:
        while True:
            try:
                self.refresh()
            except Exception:
                log.exception("model cache refresh failed; retrying in %.1fs", self.poll_interval)
            if self._stop.wait(self.poll_interval):
                return
