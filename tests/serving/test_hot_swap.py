"""Hot swap: the version behind an endpoint changes 50 times under continuous load from several
clients, and not one request fails."""

from __future__ import annotations

import threading
import time

import httpx

from evergreen.bootstrap import Context

from .conftest import Publish, StartGateway, columns_request

SWAPS = 50
CLIENTS = 4


def test_fifty_swaps_under_load_fail_no_request(
    context: Context, publish: Publish, start_gateway: StartGateway
) -> None:
    first = publish()
    publish(seed=1, promote=False)
    registry = context.registry
    registry.set_alias("rentals", "champion", 1, actor="test")
    gateway = start_gateway(poll_interval=0.02)
    body = columns_request(first.features.head(3))
    stop = threading.Event()
    outcomes: list[list[tuple[int, str | None]]] = [[] for _ in range(CLIENTS)]

    def client_loop(results: list[tuple[int, str | None]], path: str) -> None:
        with httpx.Client(base_url=gateway.url, timeout=10) as client:
            while not stop.is_set():
                try:
                    response = client.post(path, json=body)
                except httpx.HTTPError as exc:  # a dropped connection counts as a failure
                    results.append((0, repr(exc)))
                    continue
                results.append((response.status_code, response.headers.get("X-Model-Version")))

    paths = ["/v2/models/rentals/infer", "/v2/models/rentals/versions/1/infer"]
    workers = [
        threading.Thread(target=client_loop, args=(outcomes[i], paths[i % 2 if i < 2 else 0]))
        for i in range(CLIENTS)
    ]
    for worker in workers:
        worker.start()
    swap_seconds = []
    try:
        for swap in range(SWAPS):
            target = 2 if swap % 2 == 0 else 1
            before = sum(len(o) for o in outcomes)
            started = time.monotonic()
            registry.promote("rentals", target, "production", actor="test")
            while gateway.cache.served().get("rentals") != target:
                assert time.monotonic() - started < 10, f"swap {swap} did not happen"
                time.sleep(0.005)
            swap_seconds.append(time.monotonic() - started)
            while sum(len(o) for o in outcomes) < before + 4:  # traffic crosses every swap
                time.sleep(0.002)
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    results = [r for o in outcomes for r in o]
    failures = [r for r in results if r[0] != 200]
    assert failures == [], f"{len(failures)} of {len(results)} requests failed: {failures[:5]}"
    assert len(results) > SWAPS * 4
    assert {v for _, v in results} == {"1", "2"}
    assert max(swap_seconds) < 5.0
