"""`evergreen serve`, `evergreen up` and `evergreen trigger`: real processes on loopback ports."""

from __future__ import annotations

import re
import signal
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from cli.process import BIKE_PROJECT, NewHome, StartServer, Trained

pytestmark = pytest.mark.slow  # every test starts `evergreen`: a fresh interpreter

MODEL = "bike-demand"
V2_DATATYPES = {"INT64": "int64", "FP64": "float64"}


def columns_request(metadata: dict[str, Any], rows: pd.DataFrame) -> dict[str, Any]:
    """A V2 request with one tensor per input the model declares, values from ``rows``."""
    return {
        "inputs": [
            {
                "name": tensor["name"],
                "datatype": tensor["datatype"],
                "shape": [len(rows)],
                "data": rows[tensor["name"]].astype(V2_DATATYPES[tensor["datatype"]]).tolist(),
            }
            for tensor in metadata["inputs"]
        ]
    }


def test_serve_answers_v2_requests_and_stops_on_sigterm(
    new_home: NewHome, trained: Trained, start_server: StartServer
) -> None:
    home = new_home(copy_of=trained.home)
    server = start_server(home, "serve")
    server.wait_until("/v2/health/ready")
    rows = pd.read_csv(trained.data / "hour.csv").tail(5)

    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
        metadata = client.get(f"/v2/models/{MODEL}").json()
        assert metadata["versions"] == ["1"]
        response = client.post(f"/v2/models/{MODEL}/infer", json=columns_request(metadata, rows))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model_version"] == "1"
        [output] = body["outputs"]
        assert (output["name"], output["shape"]) == ("cnt", [5])
        assert all(isinstance(value, float) for value in output["data"]), output

        unknown = client.post("/v2/models/nope/infer", json=columns_request(metadata, rows))
        assert unknown.status_code == 404
        assert unknown.headers["content-type"] == "application/json"
        assert "'nope'" in unknown.json()["error"]

    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status says why it ended.
    assert server.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    log = server.log()
    assert "Application shutdown complete" in log
    assert "Traceback" not in log


def project_reading(tmp_path: Path, landing: Path, changes: str = "") -> Path:
    """A project file: the example bike project, reading its source from ``landing``, with
    ``changes`` (more keyword arguments of ``dataclasses.replace``)."""
    path = tmp_path / "bike_project.py"
    path.write_text(
        "import dataclasses\nimport runpy\n\n"
        "from sklearn.ensemble import HistGradientBoostingRegressor\n\n"
        f"example = runpy.run_path({str(BIKE_PROJECT)!r})['project']\n"
        f"project = dataclasses.replace(example, source={str(landing)!r}{changes})\n"
    )
    return path


def test_up_serves_and_turns_a_trigger_into_a_run(
    new_home: NewHome, trained: Trained, start_server: StartServer, tmp_path: Path
) -> None:
    home = new_home(copy_of=trained.home)
    # Another model: with nothing changed the run would reuse the version already registered.
    changes = ", model=lambda: HistGradientBoostingRegressor(max_iter=40, random_state=0)"
    project = project_reading(tmp_path, trained.data, changes)
    server = start_server(home, "up", "--project", project, "--interval", "1")
    assert server.wait_until("/v2/health/live").json() == {"live": True}

    queued = home.run("trigger", "--project", project, "--reason", "test asks")
    assert (queued.returncode, queued.stderr) == (0, ""), queued.stderr
    event = re.fullmatch(r"queued (evt-\w+)\n", queued.stdout)
    assert event is not None, queued.stdout

    # Rather than poll `evergreen models show` (seconds of CPU a call), wait for `up` to report.
    finished = server.wait_for_line(r"^run run-\w+ (succeeded|failed).*")
    assert finished[1] == "succeeded", finished[0]
    [_, version] = home.json("models", "show", MODEL)["versions"]
    assert version["tags"]["trigger_event_id"] == event[1]
    assert version["tags"]["reason"] == "manual: test asks"
    assert version["dataset_version"] == trained.result["dataset_version"]

    assert server.stop(signal.SIGINT) == 0
    assert "Traceback" not in server.log()
