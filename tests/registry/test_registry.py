"""The model registry on SQLite and PostgreSQL: versions, stages, audit trail, concurrency."""

from __future__ import annotations

import hashlib
import multiprocessing
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from evergreen.core.clock import SimulatedClock
from evergreen.core.ids import ModelRef
from evergreen.errors import (
    IntegrityFailure,
    InvalidInput,
    InvalidState,
    ModelNotFound,
    NotFound,
    VersionNotFound,
)
from evergreen.flavors import get_flavor
from evergreen.registry import Registry
from evergreen.registry import registry as registry_module
from evergreen.store.artifacts import ArtifactStore
from evergreen.store.database import Database
from evergreen.store.models import ModelRepository
from registry.support import EVIDENCE, fit, make_registry, signature, stages, training_data


def test_register_creates_version_1_in_development(
    registry: Registry, register: Callable[..., Any], artifacts: ArtifactStore
) -> None:
    row = register(metrics={"rmse": 1400.0}, params={"fit_intercept": True}, tags={"team": "ml"})

    assert (row.version, row.stage, row.flavor) == (1, "development", "sklearn")
    data = artifacts.get_bytes(row.artifact_sha256)
    assert row.artifact_size == len(data) > 0
    assert row.artifact_uri == artifacts.uri(row.artifact_sha256)
    assert row.signature == signature().model_dump()
    stored = registry.get_version("bikes", 1)
    assert (stored.metrics, stored.params, stored.tags) == (
        {"rmse": 1400.0},
        {"fit_intercept": True},
        {"team": "ml"},
    )


def test_versions_increment(registry: Registry, register: Callable[..., Any]) -> None:
    assert [register().version for _ in range(3)] == [1, 2, 3]
    assert stages(registry) == {1: "development", 2: "development", 3: "development"}


def test_loaded_model_predicts_like_the_original(
    registry: Registry, register: Callable[..., Any]
) -> None:
    model = fit(slice(0, 400))
    register(model)

    loaded = registry.load("bikes", 1)

    features, _ = training_data()
    assert (loaded.name, loaded.version, loaded.signature) == ("bikes", 1, signature())
    np.testing.assert_array_equal(loaded.predict(features), model.predict(features))


def test_promoting_a_new_version_archives_the_old_one(
    registry: Registry, register: Callable[..., Any]
) -> None:
    register()
    register()
    registry.promote("bikes", 1, "production", actor="alice")
    assert stages(registry) == {1: "production", 2: "development"}

    promoted = registry.promote("bikes", 2, "production", actor="bob", reason="better rmse")

    assert promoted.stage == "production"
    assert stages(registry) == {1: "archived", 2: "production"}
    production = registry.production("bikes")
    assert production is not None
    assert production.version == 2
    assert [(name, row.version) for name, row in registry.production_versions()] == [("bikes", 2)]


def test_audit_log_tells_the_story_in_order(
    registry: Registry, register: Callable[..., Any]
) -> None:
    register()
    registry.promote("bikes", 1, "production", actor="alice")
    register()
    registry.promote("bikes", 2, "production", actor="bob", reason="better rmse")

    log = [
        (e.action, e.subject, e.from_state, e.to_state, e.actor)
        for e in registry.audit_log("bikes")
    ]
    assert log == [
        ("create_model", "bikes", None, None, "alice"),
        ("register", "bikes:1", None, "development", "alice"),
        ("transition", "bikes:1", "development", "production", "alice"),
        ("register", "bikes:2", None, "development", "alice"),
        ("archive", "bikes:1", "production", "archived", "bob"),
        ("transition", "bikes:2", "development", "production", "bob"),
    ]
    archive, transition = registry.audit_log("bikes")[-2:]
    assert archive.reason == "replaced by version 2"
    assert transition.reason == "better rmse"


def test_audit_log_keeps_the_order_of_events_written_at_the_same_instant(
    db: Database, artifacts: ArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ids that sort against their creation order make the arbitrary order deterministic.
    countdown = iter(range(999_999, 0, -1))
    monkeypatch.setattr(registry_module, "new_id", lambda prefix: f"{prefix}-{next(countdown)}")
    clock = SimulatedClock(datetime(2026, 1, 1, tzinfo=UTC))
    registry = Registry(ModelRepository(db), artifacts, clock)
    registry.ensure_model("bikes", task="regression", target="cnt", actor="alice")
    registry.register(
        "bikes", fit(), flavor="sklearn", signature=signature(), actor="alice", **EVIDENCE
    )
    registry.promote("bikes", 1, "production", actor="alice")

    actions = [e.action for e in registry.audit_log("bikes")]

    assert actions == ["create_model", "register", "transition"]


def test_resolve_by_stage_and_by_number(registry: Registry, register: Callable[..., Any]) -> None:
    register()
    register()
    registry.promote("bikes", 1, "production", actor="alice")
    registry.promote("bikes", 2, "staging", actor="alice")

    assert registry.resolve("bikes@production").version == 1
    assert registry.resolve("bikes").version == 1
    assert registry.resolve("bikes@staging").version == 2
    assert registry.resolve("bikes:1").version == 1
    assert registry.resolve("bikes:2").version == 2
    assert registry.resolve(ModelRef("bikes", version=2)).version == 2


def test_resolve_an_empty_stage_says_how_to_fill_it(
    registry: Registry, register: Callable[..., Any]
) -> None:
    register()
    hint = "`evergreen models promote bikes VERSION --stage production`"
    with pytest.raises(NotFound, match=hint):
        registry.resolve("bikes@production")


@pytest.mark.parametrize("ref", ["bikes:one", "bad name@production"], ids=["number", "name"])
def test_resolve_a_malformed_reference_is_invalid_input(registry: Registry, ref: str) -> None:
    with pytest.raises(InvalidInput):
        registry.resolve(ref)


def test_resolve_an_unknown_stage_or_alias_names_both(
    registry: Registry, register: Callable[..., Any]
) -> None:
    register()
    registry.set_alias("bikes", "champion", 1, actor="alice")
    with pytest.raises(NotFound, match=r"no stage or alias 'live' .*aliases: champion"):
        registry.resolve("bikes@live")


UNKNOWN_MODEL: dict[str, Callable[[Registry], object]] = {
    "get_model": lambda r: r.get_model("nope"),
    "get_version": lambda r: r.get_version("nope", 1),
    "versions": lambda r: r.versions("nope"),
    "load": lambda r: r.load("nope", 1),
    "resolve-stage": lambda r: r.resolve("nope@production"),
    "resolve-number": lambda r: r.resolve("nope:1"),
    "promote": lambda r: r.promote("nope", 1, "production", actor="alice"),
    "register": lambda r: r.register(
        "nope", fit(), flavor="sklearn", signature=signature(), actor="alice"
    ),
}


@pytest.mark.parametrize("call", UNKNOWN_MODEL.values(), ids=UNKNOWN_MODEL.keys())
def test_unknown_model_is_model_not_found(
    registry: Registry, call: Callable[[Registry], object]
) -> None:
    with pytest.raises(ModelNotFound, match="no model named 'nope'; see `evergreen models list`"):
        call(registry)


UNKNOWN_VERSION: dict[str, Callable[[Registry], object]] = {
    "get_version": lambda r: r.get_version("bikes", 9),
    "load": lambda r: r.load("bikes", 9),
    "resolve": lambda r: r.resolve("bikes:9"),
    "promote": lambda r: r.promote("bikes", 9, "production", actor="alice"),
}


@pytest.mark.parametrize("call", UNKNOWN_VERSION.values(), ids=UNKNOWN_VERSION.keys())
def test_unknown_version_is_version_not_found(
    registry: Registry, register: Callable[..., Any], call: Callable[[Registry], object]
) -> None:
    register()
    hint = "has no version 9; see `evergreen models show bikes`"
    with pytest.raises(VersionNotFound, match=hint):
        call(registry)


def test_tampered_artifact_fails_load(registry: Registry, register: Callable[..., Any]) -> None:
    row = register()
    blob = Path(row.artifact_uri)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))

    with pytest.raises(IntegrityFailure, match="corrupted"):
        registry.load("bikes", 1)


def test_ensure_model_returns_the_existing_model(registry: Registry) -> None:
    first = registry.get_model("bikes")
    again = registry.ensure_model("bikes", task="classification", target=None, actor="bob")
    assert (again.id, again.task) == (first.id, "regression")
    assert [m.name for m in registry.list_models()] == ["bikes"]
    assert [e.action for e in registry.audit_log()] == ["create_model"]


def test_invalid_model_name_is_invalid_input(registry: Registry) -> None:
    with pytest.raises(InvalidInput, match="invalid model name"):
        registry.ensure_model("no spaces", task="regression", target=None, actor="alice")


def test_unknown_stage_is_invalid_input(registry: Registry, register: Callable[..., Any]) -> None:
    register()
    with pytest.raises(InvalidInput, match="unknown stage 'live'"):
        registry.promote("bikes", 1, "live", actor="alice")
    assert stages(registry) == {1: "development"}


def test_unknown_flavor_registers_nothing(registry: Registry, artifacts: ArtifactStore) -> None:
    with pytest.raises(InvalidInput, match="unknown model flavor 'h2o'"):
        registry.register("bikes", fit(), flavor="h2o", signature=signature(), actor="alice")
    with pytest.raises(InvalidInput, match="the onnx flavor saves ONNX models"):
        registry.register("bikes", fit(), flavor="onnx", signature=signature(), actor="alice")
    assert registry.versions("bikes") == []
    assert not any(Path(artifacts.root).rglob("*.*"))


# -- concurrency ----------------------------------------------------------------------------


_start: Any = None  # in each spawned worker: the barrier all workers wait at


def _set_start(barrier: Any) -> None:
    global _start
    _start = barrier


def register_many(url: str, artifacts_root: str, worker: int, count: int) -> list[int]:
    """Runs in a spawned process: warm up, wait for every worker, register ``count`` versions."""
    db = Database(url)
    try:
        registry = make_registry(db, ArtifactStore(artifacts_root))
        model, sig = fit(), signature()
        registry.versions("bikes")  # connect, and load what the first registration would load
        get_flavor("sklearn").save(model)
        _start.wait(timeout=120)
        return [
            registry.register(
                "bikes", model, flavor="sklearn", signature=sig, actor=f"worker-{worker}"
            ).version
            for _ in range(count)
        ]
    finally:
        db.dispose()


@pytest.fixture
def postgres_registry(
    make_db: Callable[..., Database], postgres_url: str, artifacts: ArtifactStore
) -> tuple[str, Registry]:
    registry = make_registry(make_db(postgres_url), artifacts)
    registry.ensure_model("bikes", task="regression", target="cnt", actor="alice")
    return postgres_url, registry


@pytest.mark.slow
def test_concurrent_registrations_from_processes_get_distinct_versions(
    postgres_registry: tuple[str, Registry], artifacts: ArtifactStore
) -> None:
    url, registry = postgres_registry
    workers, each = 4, 5
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(workers)
    with context.Pool(workers, initializer=_set_start, initargs=(barrier,)) as pool:
        results = pool.starmap(
            register_many, [(url, artifacts.root, worker, each) for worker in range(workers)]
        )

    numbers = sorted(v for versions in results for v in versions)
    assert numbers == list(range(1, workers * each + 1))
    assert [row.version for row in registry.versions("bikes")] == numbers
    registered = [e for e in registry.audit_log("bikes:") if e.action == "register"]
    assert sorted(e.subject for e in registered) == sorted(f"bikes:{n}" for n in numbers)
    assert Counter(e.actor for e in registered) == {f"worker-{n}": each for n in range(workers)}


def promote_one(url: str, artifacts_root: str, version: int) -> bool:
    """Runs in a spawned process: wait for every worker, then promote ``version``."""
    db = Database(url)
    try:
        registry = make_registry(db, ArtifactStore(artifacts_root))
        registry.versions("bikes")  # connect first, so the race is the promotion itself
        _start.wait(timeout=120)
        try:
            registry.promote("bikes", version, "production", actor=f"process-{version}")
        except InvalidState:
            return False
        return True
    finally:
        db.dispose()


@pytest.mark.slow
def test_concurrent_promotions_from_processes_leave_one_production_version(
    postgres_registry: tuple[str, Registry], artifacts: ArtifactStore
) -> None:
    url, registry = postgres_registry
    model, sig = fit(), signature()
    count = 4
    for _ in range(count):
        registry.register("bikes", model, flavor="sklearn", signature=sig, actor="a", **EVIDENCE)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(count)
    with context.Pool(count, initializer=_set_start, initargs=(barrier,)) as pool:
        outcomes = pool.starmap(
            promote_one, [(url, artifacts.root, v) for v in range(1, count + 1)]
        )

    final = stages(registry)
    assert list(final.values()).count("production") == 1
    won = [v for v, ok in zip(range(1, count + 1), outcomes, strict=True) if ok]
    assert set(won) == {v for v, s in final.items() if s in ("production", "archived")}
    transitions = [e for e in registry.audit_log("bikes:") if e.action == "transition"]
    assert sorted(int(e.subject.split(":")[1]) for e in transitions) == sorted(won)


def test_concurrent_promotions_leave_exactly_one_production_version(
    registry: Registry, register: Callable[..., Any]
) -> None:
    count = 6
    model = fit()
    for _ in range(count):
        register(model)
    start = threading.Barrier(count)

    def promote(version: int) -> bool:
        start.wait()
        try:
            registry.promote("bikes", version, "production", actor=f"thread-{version}")
        except InvalidState:
            return False
        return True

    versions = range(1, count + 1)
    with ThreadPoolExecutor(count) as pool:
        won = [v for v, ok in zip(versions, pool.map(promote, versions), strict=True) if ok]

    final = stages(registry)
    production = [v for v, stage in final.items() if stage == "production"]
    assert len(production) == 1
    assert production[0] in won
    assert sorted(v for v, stage in final.items() if stage == "archived") == sorted(
        set(won) - set(production)
    )
    assert all(final[v] == "development" for v in set(final) - set(won))
    transitions = [e for e in registry.audit_log("bikes:") if e.action == "transition"]
    archives = [e for e in registry.audit_log("bikes:") if e.action == "archive"]
    assert sorted(int(e.subject.split(":")[1]) for e in transitions) == sorted(won)
    assert len(archives) == len(won) - 1


def test_exports_are_stored_verified_and_explained_when_missing(
    registry: Registry, artifacts: ArtifactStore
) -> None:
    onnx = b"\x08\x07onnx-model-bytes"
    row = registry.register(
        "bikes",
        fit(),
        flavor="sklearn",
        signature=signature(),
        actor="alice",
        exports={"onnx": onnx, "torchscript": "flavor sklearn has no torchscript export"},
    )
    assert registry.export("bikes", row.version, "onnx") == onnx
    kept = registry.get_version("bikes", row.version).exports
    assert kept["onnx"]["sha256"] == hashlib.sha256(onnx).hexdigest()
    assert kept["torchscript"] == {"reason": "flavor sklearn has no torchscript export"}
    with pytest.raises(NotFound, match="no torchscript export: flavor sklearn has no"):
        registry.export("bikes", row.version, "torchscript")
    with pytest.raises(NotFound, match=r"has no coreml export$"):
        registry.export("bikes", row.version, "coreml")

    Path(artifacts.uri(kept["onnx"]["sha256"])).write_bytes(b"tampered")
    with pytest.raises(IntegrityFailure):
        registry.export("bikes", row.version, "onnx")
