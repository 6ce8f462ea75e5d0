"""Write an MLServer model repository for joblib-pickled scikit-learn models, then start it.

Runs in ``.bench/mlserver``:
``python mlserver_server.py REPO HTTP_PORT GRPC_PORT METRICS_PORT NAME=MODEL.joblib ...``.
Each model is served by ``mlserver_sklearn.SKLearnModel`` (V2 protocol, ``predict``); the server
settings are MLServer's defaults apart from the ports.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path


def write_repository(repo: Path, ports: list[str], models: list[str]) -> None:
    http, grpc, metrics = (int(p) for p in ports)
    settings = {"host": "127.0.0.1", "http_port": http, "grpc_port": grpc, "metrics_port": metrics}
    repo.mkdir(parents=True, exist_ok=True)
    (repo / "settings.json").write_text(json.dumps(settings))
    for item in models:
        name, path = item.split("=", 1)
        folder = repo / name
        folder.mkdir(exist_ok=True)
        shutil.copyfile(path, folder / "model.joblib")
        model_settings = {
            "name": name,
            "implementation": "mlserver_sklearn.SKLearnModel",
            "parameters": {"uri": "./model.joblib"},
        }
        (folder / "model-settings.json").write_text(json.dumps(model_settings))


def main(repo: str, *args: str) -> None:
    write_repository(Path(repo), list(args[:3]), list(args[3:]))
    mlserver = str(Path(sys.executable).parent / "mlserver")
    os.execv(mlserver, [mlserver, "start", repo])


if __name__ == "__main__":
    main(*sys.argv[1:])
