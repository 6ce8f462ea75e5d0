"""The minimal FastAPI app: V2 request in, ``model.predict`` called synchronously, V2 out.

``BENCH_MODELS="lr=/path/lr.joblib,rf=/path/rf.joblib"``; run with
``uvicorn benchmarks.serving_competitors.fastapi_app:app``.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import joblib  # type: ignore[import-untyped]
import numpy as np
from fastapi import FastAPI, Request

warnings.filterwarnings("ignore", message="X does not have valid feature names")
MODELS = dict(item.split("=", 1) for item in os.environ["BENCH_MODELS"].split(","))
LOADED = {name: joblib.load(path) for name, path in MODELS.items()}
app = FastAPI()


@app.post("/v2/models/{name}/infer")
async def infer(name: str, request: Request) -> dict[str, Any]:
    tensor = (await request.json())["inputs"][0]
    rows = np.asarray(tensor["data"], dtype=np.float64).reshape(tensor["shape"])
    predictions = LOADED[name].predict(rows)
    return {
        "model_name": name,
        "outputs": [
            {
                "name": "predict",
                "shape": [len(predictions)],
                "datatype": "INT64",
                "data": predictions.tolist(),
            }
        ],
    }
