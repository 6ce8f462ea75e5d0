"""The gateway as users run it: `evergreen serve` processes (one or several workers, several
gateways on one registry), `evergreen endpoints ...`, and the prediction log after SIGTERM."""

from __future__ import annotations

import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from cli.process import Home, NewHome, Server, StartServer, Trained
from evergreen.bootstrap import build
from evergreen.settings import Settings
from evergreen.store.predictions import read_predictions

pytestmark = pytest.mark.slow  # every test starts `evergreen`: a fresh interpreter

MODEL = "bike-demand"


def copy_version(home: Home) -> int:
    """Register version 1's model again as a new version (development), with its evidence."""
    ctx = build(Settings(home=home.path))
    try:
        first = ctx.registry.get_version(MODEL, 1)
        loaded = ctx.registry.load(MODEL, 1)
        row = ctx.registry.register(
            MODEL,
            loaded.model,
            flavor=first.flavor,
            signature=loaded.signature,
            actor="test",
            baseline=first.baseline,
            gate={"passed": True, "reason": "copied by the test"},
            validation={"passed": True},
        )
        return row.version
    finally:
        ctx.close()


def request(metadata: dict[str, Any], rows: pd.DataFrame, request_id: str) -> dict[str, Any]:
    types = {"INT64": "int64", "FP64": "float64"}
    return {
        "id": request_id,
        "inputs": [
            {
                "name": t["name"],
                "datatype": t["datatype"],
                "shape": [len(rows)],
                "data": rows[t["name"]].astype(types[t["datatype"]]).tolist(),
            }
            for t in metadata["inputs"]
        ],
    }


def served_version(server: Server, path: str = f"/v2/models/{MODEL}") -> str | None:
    try:
        response = httpx.get(server.url + path, timeout=2.0, trust_env=False)
    except httpx.TransportError:
        return None
    return response.headers.get("X-Model-Version") if response.status_code == 200 else None


def listening_sockets(url: str) -> int:
    """How many sockets listen on ``url``'s port (Linux's table of TCP sockets)."""
    port = f"{int(url.rsplit(':', 1)[1]):04X}"
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(
        1 for line in lines if line.split()[1].endswith(":" + port) and line.split()[3] == "0A"
    )


def test_gateways_on_one_registry_converge_and_follow_endpoint_changes(
    new_home: NewHome, trained: Trained, start_server: StartServer
) -> None:
    home = new_home(copy_of=trained.home)
    second = copy_version(home)
    # two gateways on one registry, the second with two worker processes
    gateways = [
        start_server(home, "serve", "--poll", "0.2"),
        start_server(home, "serve", "--poll", "0.2", "--workers", "2"),
    ]
    for gateway in gateways:  # the first load imports scikit-learn: slow on a busy machine
        gateway.wait_until(f"/v2/models/{MODEL}/ready", timeout=240)
        # one worker answering is not all of them: every process must serve version 1
        deadline = time.monotonic() + 240
        while {served_version(gateway) for _ in range(10)} != {"1"}:
            assert time.monotonic() < deadline, gateway.log()[-2000:]
            time.sleep(0.2)
    if sys.platform.startswith("linux"):  # each worker has a socket of its own on the port
        assert [listening_sockets(g.url) for g in gateways] == [1, 2]

    promoted = home.run(
        "models", "promote", MODEL, str(second), "--stage", "production", "--force",
        "--reason", "convergence test",
    )  # fmt: skip
    assert promoted.returncode == 0, promoted.stderr
    changed = time.monotonic()
    pending = list(gateways)
    while pending and time.monotonic() - changed < 10:
        pending = [g for g in pending if served_version(g) != str(second)]
        time.sleep(0.05)
    assert not pending, [g.log()[-2000:] for g in pending]
    # the worker processes of the second gateway answer in turn: each has switched
    assert {served_version(gateways[1]) for _ in range(20)} == {str(second)}

    policy = home.run(
        "endpoints", "set", "bikes", "--variant", f"old={MODEL}:1,1",
        "--variant", f"new={MODEL}@production,1", "--sticky", "X-User", "--reason", "A/B",
    )  # fmt: skip
    assert policy.returncode == 0, policy.stderr
    assert "endpoint bikes: old -> bike-demand:1, new -> bike-demand@production" in policy.stdout
    for gateway in gateways:
        gateway.wait_until("/v2/models/bikes/ready", timeout=10)
    answers = {
        httpx.get(
            f"{gateways[0].url}/v2/models/bikes", headers={"X-User": f"u{i}"}, trust_env=False
        ).headers["X-Evergreen-Variant"]
        for i in range(40)
    }
    assert answers == {"old", "new"}
    listed = home.json("endpoints", "list")
    assert [e["name"] for e in listed] == ["bikes"]
    assert listed[0]["policy"]["sticky"] == "X-User"

    bad = home.run("endpoints", "set", "typo", "--variant", "a=bike-demand@gold")
    assert bad.returncode != 0 and bad.stdout == ""
    [line] = bad.stderr.splitlines()
    assert "gold" in line
    assert home.run("endpoints", "delete", "bikes").returncode == 0
    for gateway in gateways:
        assert gateway.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
        assert "Traceback" not in gateway.log()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_busy_port_is_one_line_and_no_gateway(new_home: NewHome, workers: str) -> None:
    home = new_home()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = home.run("serve", "--port", str(port), "--workers", workers, timeout=60)
    assert done.returncode != 0 and done.stdout == ""
    [line] = done.stderr.splitlines()
    assert f"cannot listen on 127.0.0.1:{port}" in line and "--port" in line


def test_every_request_is_in_the_prediction_log_after_sigterm(
    new_home: NewHome, trained: Trained, start_server: StartServer
) -> None:
    home = new_home(copy_of=trained.home)
    server = start_server(home, "serve")
    metadata = (
        server.wait_until(f"/v2/models/{MODEL}/ready")
        and httpx.get(f"{server.url}/v2/models/{MODEL}", trust_env=False).json()
    )
    rows = pd.read_csv(trained.data / "hour.csv").tail(40)
    sent = 0
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
        for i in range(200):
            body = request(metadata, rows.iloc[[i % 40]], f"req-{i}")
            assert client.post(f"/v2/models/{MODEL}/infer", json=body).status_code == 200
            sent += 1
    assert server.stop(signal.SIGTERM) in (0, -signal.SIGTERM)  # flushes what is buffered
    ctx = build(Settings(home=home.path))
    try:
        logged = read_predictions(ctx.predictions, ctx.artifacts, MODEL)
    finally:
        ctx.close()
    assert sent == 200
    assert sorted(logged["request_id"]) == sorted(f"req-{i}" for i in range(200))
