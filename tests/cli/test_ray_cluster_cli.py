"""`EVERGREEN_EXECUTOR=ray://host:port`: a real Ray cluster (a head node started with
`ray start --head`, as an operator would) runs the search example's trials for `evergreen run`,
which reaches it through Ray Client."""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.process import BIKE_PROJECT, BIN, Landing, NewHome, free_port

pytestmark = pytest.mark.slow  # starts a Ray head node and `evergreen`


TOKEN = secrets.token_hex(16)  # the cluster's shared secret (token authentication)


@pytest.fixture
def ray_cluster(tmp_path: Path) -> Iterator[str]:
    """A head node with a Ray Client server, secured with a token as Ray recommends; its
    address as ``ray://...``. Clients need ``RAY_AUTH_MODE=token`` and ``RAY_AUTH_TOKEN``."""
    gcs, client = free_port(), free_port()
    # Its own temp dir (RAY_TMPDIR too, where Ray notes the "current cluster"): a local
    # `ray.init()` elsewhere in the test run must not find and join this cluster.
    temp = Path("/tmp") / f"ray-{os.getpid()}-{client}"  # Ray wants a short socket path
    env = {
        **os.environ,
        "RAY_TMPDIR": str(temp),
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": TOKEN,
    }
    log = (tmp_path / "ray-head.log").open("wb")
    head = subprocess.Popen(
        [
            str(BIN / "ray"),
            "start",
            "--head",
            "--block",
            "--node-ip-address=127.0.0.1",
            f"--port={gcs}",
            f"--ray-client-server-port={client}",
            "--num-cpus=2",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--temp-dir={temp}",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while b"Ray runtime started" not in (tmp_path / "ray-head.log").read_bytes():
            if head.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((tmp_path / "ray-head.log").read_text()[-2000:])
            time.sleep(0.5)
        # Ray binds its services to the machine's own address, whatever --node-ip-address
        # says about loopback; it prints which.
        found = re.search(r"Local node IP: (\S+)", (tmp_path / "ray-head.log").read_text())
        yield f"ray://{found[1] if found else '127.0.0.1'}:{client}"
    finally:
        os.killpg(head.pid, signal.SIGTERM)  # --block: the head stops its processes
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        log.close()


def test_a_search_runs_on_a_ray_cluster(
    new_home: NewHome, landing: Landing, ray_cluster: str
) -> None:
    home = new_home()
    home.env.update(EVERGREEN_EXECUTOR=ray_cluster, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=TOKEN)
    project = BIKE_PROJECT.with_name("bike_search_project.py")
    done = home.run("run", "--project", project, "--data", landing(rows=1500), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    trials = [line for line in done.stdout.splitlines() if line.startswith("  trial ")]
    assert len(trials) == 12
    assert sum(" complete " in line for line in trials) >= 6
    [version] = home.json("models", "show", "bike-demand-search")["versions"]
    assert version["tags"]["candidate"] in ("boosting", "forest")


def test_an_unreachable_cluster_is_a_clear_error(new_home: NewHome, landing: Landing) -> None:
    home = new_home()
    home.env["EVERGREEN_EXECUTOR"] = f"ray://127.0.0.1:{free_port()}"
    project = BIKE_PROJECT.with_name("bike_search_project.py")
    done = home.run("run", "--project", project, "--data", landing(rows=800), timeout=300)
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert "failed in step train" in line and "cannot reach the Ray cluster" in line
    assert home.json("models", "list") == []
