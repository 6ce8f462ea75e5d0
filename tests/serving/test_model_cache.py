from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pytest

from evergreen.bootstrap import Context
from evergreen.errors import IntegrityFailure, NotFound, Unavailable
from evergreen.serving import ModelCache
from evergreen.store.endpoints import EndpointRepository

from .conftest import Publish


def corrupt(context: Context, name: str, version: int) -> None:
    """Overwrite a version's artifact bytes on disk, as a bad disk or a tamperer would."""
    row = context.registry.get_version(name, version)
    Path(row.artifact_uri).write_bytes(b"not a model" * 10)


def test_not_ready_until_first_refresh(context: Context, publish: Publish) -> None:
    publish()
    cache = ModelCache(context.registry)
    assert not cache.ready
    with pytest.raises(Unavailable):
        cache.get("rentals")
    assert cache.refresh() == {"rentals": 1}
    assert cache.ready


def test_serves_the_production_version(context: Context, publish: Publish) -> None:
    published = publish()
    cache = ModelCache(context.registry)
    cache.refresh()
    model = cache.get("rentals").primary.served.model
    assert model.version == published.version
    features = published.features.head(5)
    np.testing.assert_allclose(model.predict(features), published.model.predict(features))


def test_unknown_model_is_not_found(context: Context, publish: Publish) -> None:
    publish()
    publish("staged", promote=False)
    cache = ModelCache(context.registry)
    cache.refresh()
    for name in ("nope", "staged"):
        with pytest.raises(NotFound, match="rentals"):
            cache.get(name)


def test_refresh_swaps_and_keeps_old_reference(context: Context, publish: Publish) -> None:
    publish()
    cache = ModelCache(context.registry)
    cache.refresh()
    in_flight = cache.get("rentals").primary.served.model
    publish(seed=1)
    assert cache.refresh() == {"rentals": 2}
    assert cache.get("rentals").primary.served.model.version == 2
    assert in_flight.version == 1  # a request that started before the swap keeps its model


def test_unchanged_versions_are_not_reloaded(context: Context, publish: Publish) -> None:
    publish()
    cache = ModelCache(context.registry)
    cache.refresh()
    first = cache.get("rentals").primary.served
    cache.refresh()
    assert cache.get("rentals").primary.served is first


def test_models_leaving_production_are_dropped(context: Context, publish: Publish) -> None:
    publish()
    publish("other")
    cache = ModelCache(context.registry)
    assert cache.refresh() == {"rentals": 1, "other": 1}
    context.registry.promote("other", 1, "archived", actor="test")
    assert cache.refresh() == {"rentals": 1}


def test_corrupted_new_version_keeps_old_serving(
    context: Context, publish: Publish, caplog: pytest.LogCaptureFixture
) -> None:
    publish()
    cache = ModelCache(context.registry)
    cache.refresh()
    publish(seed=1, promote=False)
    corrupt(context, "rentals", 2)
    context.registry.promote("rentals", 2, "production", actor="test")
    with caplog.at_level(logging.ERROR, logger="evergreen.serving.model_cache"):
        assert cache.refresh() == {"rentals": 1}
    assert "rentals:2" in caplog.text
    assert "corrupted" in caplog.text


def test_corrupted_only_version_is_not_served(context: Context, publish: Publish) -> None:
    publish(promote=False)
    corrupt(context, "rentals", 1)
    context.registry.promote("rentals", 1, "production", actor="test")
    cache = ModelCache(context.registry)
    assert cache.refresh() == {}
    assert cache.ready
    with pytest.raises(NotFound):
        cache.get("rentals")


def test_get_version_loads_on_demand(context: Context, publish: Publish) -> None:
    publish()
    publish(seed=1)
    cache = ModelCache(context.registry, max_pinned=1)
    cache.refresh()
    assert cache.get_version("rentals", 2) is cache.get("rentals").primary.served
    old = cache.get_version("rentals", 1)
    assert old.model.version == 1
    assert cache.is_loaded("rentals", 1)
    assert cache.get_version("rentals", 1) is old
    with pytest.raises(NotFound):
        cache.get_version("rentals", 9)


def test_get_version_of_corrupted_version_fails(context: Context, publish: Publish) -> None:
    publish()
    publish(seed=1, promote=False)
    corrupt(context, "rentals", 2)
    cache = ModelCache(context.registry)
    with pytest.raises(IntegrityFailure):
        cache.get_version("rentals", 2)


def test_background_refresher_follows_promotions(context: Context, publish: Publish) -> None:
    publish()
    cache = ModelCache(context.registry, poll_interval=0.05)
    cache.start()
    try:
        assert cache.wait_ready(10)
        assert cache.served() == {"rentals": 1}
        publish(seed=1)
        deadline = time.monotonic() + 5
        while cache.served() != {"rentals": 2} and time.monotonic() < deadline:
            time.sleep(0.02)
        assert cache.served() == {"rentals": 2}
    finally:
        cache.stop()


def test_poll_resolves_again_only_after_a_change(context: Context, publish: Publish) -> None:
    publish()
    cache = ModelCache(context.registry, endpoints=EndpointRepository(context.db))
    cache.refresh()
    built = cache.endpoints
    assert cache.poll() is False
    assert cache.endpoints is built  # nothing was resolved or rebuilt
    publish(seed=1)  # version 2 registered and promoted
    assert cache.poll() is True
    assert cache.served() == {"rentals": 2}
    assert cache.poll() is False
    context.registry.set_alias("rentals", "champion", 1, actor="test")
    assert cache.poll() is True
    assert cache.poll() is False
    endpoints = context.endpoints
    endpoints.set(
        "rentals-ab", {"variants": [{"name": "a", "model": "rentals@champion"}]}, actor="t"
    )
    assert cache.poll() is True
    assert cache.served() == {"rentals": 2, "rentals-ab": 1}
    context.registry.set_alias("rentals", "champion", 2, actor="test")  # the alias moves
    assert cache.poll() is True
    assert cache.served() == {"rentals": 2, "rentals-ab": 2}
    endpoints.set("rentals-ab", {"variants": [{"name": "a", "model": "rentals:1"}]}, actor="t")
    assert cache.poll() is True
    assert cache.served() == {"rentals": 2, "rentals-ab": 1}
    assert cache.poll() is False


def test_poll_retries_a_version_that_failed_to_load(context: Context, publish: Publish) -> None:
    publish()
    publish(seed=1, promote=False)
    artifact = Path(context.registry.get_version("rentals", 2).artifact_uri)
    intact = artifact.read_bytes()
    corrupt(context, "rentals", 2)
    context.registry.promote("rentals", 2, "production", actor="test")
    cache = ModelCache(context.registry, retry_failed_after=0.0)
    cache.refresh()
    assert cache.served() == {}  # version 1 left production, version 2 does not load
    assert cache.poll() is True  # nothing changed in the registry, but a load failed
    artifact.write_bytes(intact)
    assert cache.poll() is True
    assert cache.served() == {"rentals": 2}
    assert cache.poll() is False
