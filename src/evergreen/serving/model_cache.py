"""What every endpoint serves, loaded and kept current with the registry.

An endpoint is either stored (a policy set through the control API) or implicit: every model
with a production version is served under its own name. ``refresh`` resolves each endpoint's
variant and shadow references against the registry, loads and warms versions it does not have
yet (before anything switches), and swaps one immutable mapping in a single assignment. Reads
never take a lock; a request in flight keeps the ``ServedEndpoint`` it started with. A version
that fails to load is logged, retried later, and the version before it keeps serving; versions
no endpoint needs any more are closed once they are out of the mapping.

Every gateway process polls the same registry, so processes converge on the same versions
within one poll interval plus a load. A poll first reads a narrow summary of what resolving
depends on (every version's stage, every alias, each stored policy's last change) and resolves
the endpoints' references only when that changed, or when a reference or a load failed last
time (so failures are retried): resolving every reference every second cost each worker
25-55 ms of CPU a second, in stretches that held the GIL while requests waited.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from evergreen.core.ids import ModelRef
from evergreen.errors import EvergreenError, InvalidInput, NotFound, Unavailable
from evergreen.registry import Registry
from evergreen.serving.loader import ModelLoader, ServedModel
from evergreen.serving.policy import EndpointPolicy, choose
from evergreen.store.endpoints import EndpointRepository

log = logging.getLogger(__name__)

CLOSE_GRACE_SECONDS = 30.0


@dataclass(frozen=True)
class ServedVariant:
    name: str
    ref: str
    weight: float
    served: ServedModel


@dataclass(frozen=True)
class ServedShadow:
    name: str
    ref: str
    sample: float
    served: ServedModel


@dataclass(frozen=True)
class ServedEndpoint:
    """One endpoint's variants (those whose version is loaded) and shadows."""

    name: str
    policy: EndpointPolicy
    variants: tuple[ServedVariant, ...]
    shadows: tuple[ServedShadow, ...]
    stored: bool

    @property
    def primary(self) -> ServedVariant:
        return self.variants[0]

    def pick(self, key: str | None, rng: random.Random | None = None) -> ServedVariant:
        if len(self.variants) == 1:
            return self.variants[0]
        return self.variants[choose([v.weight for v in self.variants], key, rng)]

    def models(self) -> list[ServedModel]:
        """Every version this endpoint holds, variants first, then shadows."""
        return [v.served for v in self.variants] + [s.served for s in self.shadows]

    def variant_serving(self, version: int) -> ServedVariant | None:
        for variant in self.variants:
            if variant.served.model.version == version:
                return variant
        return None


class ModelCache:
    """Serves every endpoint; ``start()`` keeps it current in the background."""

    def __init__(
        self,
        registry: Registry,
        *,
        endpoints: EndpointRepository | None = None,
        loader: ModelLoader | None = None,
        poll_interval: float = 1.0,
        retry_failed_after: float = 30.0,
        max_pinned: int = 4,
        on_load: Callable[[ServedModel], None] | None = None,
    ) -> None:
        self.registry = registry
        self.endpoint_store = endpoints
        self.loader = loader or ModelLoader(registry)
        self.poll_interval = poll_interval
        self.retry_failed_after = retry_failed_after
        self.on_load = on_load
        self._endpoints: Mapping[str, ServedEndpoint] = MappingProxyType({})
        self._ready = threading.Event()
        self._refresh_lock = threading.Lock()
        self._failed: dict[tuple[str, int, str], float] = {}
        self._pinned: OrderedDict[tuple[str, int], ServedModel] = OrderedDict()
        self._pinned_lock = threading.Lock()
        self._max_pinned = max_pinned
        # Versions no endpoint needs any more, closed after a grace period unless needed again.
        self._retired: dict[tuple[str, int], tuple[ServedModel, threading.Timer]] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._state: object | None = None  # what the endpoints were built from (None: unknown)
        self._missed = False  # a reference or a version failed during this refresh

    # -- reading ----------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """True once the first refresh has finished."""
        return self._ready.is_set()

    @property
    def endpoints(self) -> Mapping[str, ServedEndpoint]:
        return self._endpoints

    def served(self) -> dict[str, int]:
        """The version answering each endpoint (its primary variant's)."""
        return {name: e.primary.served.model.version for name, e in self._endpoints.items()}

    def get(self, name: str) -> ServedEndpoint:
        """The endpoint ``name``; the caller keeps it for the whole request."""
        endpoint = self._endpoints.get(name)
        if endpoint is not None:
            return endpoint
        if not self.ready:
            raise Unavailable("the gateway is still loading its models; retry in a moment")
        served = ", ".join(sorted(self._endpoints)) or "none"
        raise NotFound(
            f"model {name!r} is not served here (no endpoint of that name, and no loadable "
            f"production version); served: {served}"
        )

    def get_version(self, name: str, version: int) -> ServedModel:
        """Version ``version`` for endpoint ``name``: the variant serving it, else that version
        of model ``name`` loaded on demand (blocking) and kept in a small LRU cache."""
        endpoint = self._endpoints.get(name)
        if endpoint is not None:
            variant = endpoint.variant_serving(version)
            if variant is not None:
                return variant.served
            models = {ModelRef.parse(v.ref).name for v in endpoint.variants}
            if name not in models:
                served = sorted(v.served.model.version for v in endpoint.variants)
                raise NotFound(
                    f"endpoint {name!r} does not serve version {version} (it serves {served})"
                )
        key = (name, version)
        with self._pinned_lock:
            pinned = self._pinned.get(key)
            if pinned is not None:
                self._pinned.move_to_end(key)
                return pinned
        served_model = self.loader.load(name, version)
        with self._pinned_lock:
            self._pinned[key] = served_model
            self._pinned.move_to_end(key)
            while len(self._pinned) > self._max_pinned:
                self._pinned.popitem(last=False)[1].close()
        return served_model

    def is_loaded(self, name: str, version: int) -> bool:
        endpoint = self._endpoints.get(name)
        if endpoint is not None and endpoint.variant_serving(version) is not None:
            return True
        with self._pinned_lock:
            return (name, version) in self._pinned

    # -- refreshing -------------------------------------------------------------------------
    def refresh(self) -> dict[str, int]:
        """Resolve every endpoint, load what is new, swap atomically; returns ``served()``.

        Refreshes are serialized; readers never wait.
        """
        with self._refresh_lock:
            state = self._read_state()
            self._missed = False
            try:
                policies = self._policies()
            except EvergreenError as exc:
                log.error("cannot read the registry; keeping the current endpoints: %s", exc)
                self._state = None
                return self.served()
            current = self._endpoints
            loaded = {m.key: m for e in current.values() for m in e.models()}
            nxt: dict[str, ServedEndpoint] = {}
            for name, (policy, stored) in policies.items():
                endpoint = self._build(name, policy, stored, loaded, current.get(name))
                if endpoint is not None:
                    nxt[name] = endpoint
            self._endpoints = MappingProxyType(nxt)
            self._state = None if self._missed else state
            self._ready.set()
            self._close_unused(current, nxt)
            return self.served()

    def poll(self) -> bool:
        """``refresh`` if the registry or a stored policy changed since the last one, or if
        something failed in it; otherwise only that cheap check. Whether it refreshed."""
        state = self._read_state()
        if state is not None and state == self._state:
            return False
        self.refresh()
        return True

    def _read_state(self) -> object | None:
        try:
            policies = () if self.endpoint_store is None else self.endpoint_store.state()
            return (self.registry.serving_state(), policies)
        except Exception as exc:  # the refresh that follows says what is wrong
            log.debug("cannot read the registry's state: %s", exc)
            return None

    def refresh_soon(self) -> None:
        """Ask the background refresher to refresh now (after a policy change here)."""
        self._wake.set()

    def _policies(self) -> dict[str, tuple[EndpointPolicy, bool]]:
        policies = {
            name: (EndpointPolicy.single(name), False)
            for name, _ in self.registry.production_versions()
        }
        if self.endpoint_store is not None:
            for row in self.endpoint_store.list():
                try:
                    policies[row.name] = (EndpointPolicy.parse(row.policy, row.name), True)
                except InvalidInput as exc:
                    log.error("endpoint %s is not served: %s", row.name, exc)
        return policies

    def _build(
        self,
        name: str,
        policy: EndpointPolicy,
        stored: bool,
        loaded: dict[tuple[str, int], ServedModel],
        previous: ServedEndpoint | None,
    ) -> ServedEndpoint | None:
        before = {v.name: v.served for v in previous.variants} if previous else {}
        before.update({s.name: s.served for s in previous.shadows} if previous else {})
        variants = []
        for variant in policy.variants:
            served = self._served(variant.model, loaded) or before.get(variant.name)
            if served is not None:
                variants.append(ServedVariant(variant.name, variant.model, variant.weight, served))
        shadows = []
        for shadow in policy.shadows:
            served = self._served(shadow.model, loaded) or before.get(shadow.name)
            if served is not None:
                shadows.append(ServedShadow(shadow.name, shadow.model, shadow.sample, served))
        if not variants or sum(v.weight for v in variants) <= 0:
            if stored:
                log.error("endpoint %s has no loadable variant; it is not served", name)
            return None
        return ServedEndpoint(name, policy, tuple(variants), tuple(shadows), stored)

    def _served(self, ref: str, loaded: dict[tuple[str, int], ServedModel]) -> ServedModel | None:
        try:
            row = self.registry.resolve(ref)
        except EvergreenError as exc:
            log.warning("cannot resolve %s: %s", ref, exc)
            self._missed = True
            return None
        name = ModelRef.parse(ref).name
        key = (name, row.version)
        if key in loaded:
            return loaded[key]
        if key in self._retired:  # swapped back within the grace period: no reload
            served, timer = self._retired.pop(key)
            timer.cancel()
            loaded[key] = served
            return served
        failed_at = self._failed.get((name, row.version, row.artifact_sha256))
        if failed_at is not None and time.monotonic() - failed_at < self.retry_failed_after:
            self._missed = True
            return None
        try:
            served = self.loader.load(name, row.version)
        except EvergreenError as exc:
            log.error("cannot load %s:%d; the previous version keeps serving: %s", *key, exc)
        except Exception:
            log.exception("cannot load %s:%d; the previous version keeps serving", *key)
        else:
            self._failed.pop((name, row.version, row.artifact_sha256), None)
            loaded[key] = served
            if self.on_load is not None:
                self.on_load(served)
            return served
        self._failed[(name, row.version, row.artifact_sha256)] = time.monotonic()
        self._missed = True
        return None

    def _close_unused(
        self, before: Mapping[str, ServedEndpoint], after: Mapping[str, ServedEndpoint]
    ) -> None:
        def models(endpoints: Mapping[str, ServedEndpoint]) -> dict[tuple[str, int], ServedModel]:
            return {m.key: m for e in endpoints.values() for m in e.models()}

        kept = models(after)
        for key, served in models(before).items():
            if key not in kept and key not in self._retired:
                # Requests that picked it just before the swap still submit to it: close later.
                timer = threading.Timer(CLOSE_GRACE_SECONDS, self._close_retired, (key, served))
                timer.daemon = True
                self._retired[key] = (served, timer)
                timer.start()

    def _close_retired(self, key: tuple[str, int], served: ServedModel) -> None:
        with self._refresh_lock:
            entry = self._retired.get(key)
            if entry is None or entry[0] is not served:
                return  # it serves again
            del self._retired[key]
        served.close()

    # -- background refresher ---------------------------------------------------------------
    def start(self) -> None:
        """Refresh now (in the background thread), then ``poll`` every ``poll_interval``
        seconds."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="evergreen-model-cache", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        for endpoint in self._endpoints.values():
            for served in endpoint.models():
                served.close()
        with self._refresh_lock:
            retired, self._retired = self._retired, {}
        for served, timer in retired.values():
            timer.cancel()
            served.close()
        with self._pinned_lock:
            for served in self._pinned.values():
                served.close()

    def wait_ready(self, timeout: float | None = None) -> bool:
        return self._ready.wait(timeout)

    def _run(self) -> None:
        woken = True  # the first refresh, and one asked for with refresh_soon, are full ones
        while not self._stop.is_set():
            try:
                if woken:
                    self.refresh()
                else:
                    self.poll()
            except Exception:
                log.exception("model cache refresh failed; retrying in %.1fs", self.poll_interval)
                self._state = None
            woken = self._wake.wait(self.poll_interval)
            self._wake.clear()
