"""`evergreen serve` with MLflow's scoring protocol, the inference token, the body limit and the
access log: a real process on a loopback port."""

from __future__ import annotations

import json
import signal

import httpx
import pandas as pd
import pytest

from cli.process import NewHome, StartServer, Trained

pytestmark = pytest.mark.slow

MODEL = "bike-demand"
TOKEN = "cli-inference-token"


def test_serve_mlflow_invocations_with_token_limit_and_access_log(
    new_home: NewHome, trained: Trained, start_server: StartServer
) -> None:
    home = new_home(copy_of=trained.home)
    home.env["EVERGREEN_INFERENCE_TOKEN"] = TOKEN
    server = start_server(home, "serve", "--default-endpoint", MODEL, "--max-body-bytes", "100000")
    server.wait_until("/ping")  # health stays open
    rows = pd.read_csv(trained.data / "hour.csv").tail(3)
    body = json.dumps({"dataframe_records": rows.to_dict(orient="records")})
    auth = {"Authorization": f"Bearer {TOKEN}"}

    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
        refused = client.post("/invocations", content=body)
        assert refused.status_code == 401
        assert refused.json()["error_code"] == "UNAUTHENTICATED"
        answer = client.post("/invocations", content=body, headers=auth)
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["predictions"]) == 3
        assert answer.headers["X-Model-Version"] == "1"
        too_big = client.post("/invocations", content=b" " * 200_000, headers=auth)
        assert too_big.status_code == 413

    line = server.wait_for_line(r'^\{.*"path":"/invocations","status":200.*\}$')
    access = json.loads(line.group(0))
    assert (access["endpoint"], access["version"]) == (MODEL, "1")
    assert server.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    assert '"POST /invocations HTTP/1.1"' not in server.log()  # uvicorn's own access log is off
