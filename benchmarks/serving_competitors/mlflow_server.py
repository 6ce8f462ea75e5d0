"""Save a joblib-pickled scikit-learn model as an MLflow model, then run ``mlflow models serve``.

Runs in ``.bench/mlflow``: ``python mlflow_server.py MODEL.joblib MODEL_DIR PORT``. The MLflow
model carries a signature (30 float64 columns), as ``mlflow.sklearn.log_model`` users give it,
and is stored in MLflow's default format (skops), trusting the forest's tree type.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import joblib  # type: ignore[import-untyped]
import mlflow.sklearn
import numpy as np
import pandas as pd
from mlflow.models import infer_signature


def save(model_path: Path, model_dir: Path) -> None:
    model = joblib.load(model_path)
    names = [str(n) for n in model.feature_names_in_]
    example = pd.DataFrame(np.zeros((2, len(names))), columns=names)
    signature = infer_signature(example, model.predict(example))
    trusted = ["sklearn.tree._tree.Tree"]  # skops refuses forests without it
    mlflow.sklearn.save_model(
        model, str(model_dir), signature=signature, skops_trusted_types=trusted
    )


def main(model_path: str, model_dir: str, port: str) -> None:
    if not Path(model_dir).exists():
        save(Path(model_path), Path(model_dir))
    mlflow = str(Path(sys.executable).parent / "mlflow")
    command = ["models", "serve", "-m", model_dir, "--env-manager", "local"]
    os.execv(mlflow, [mlflow, *command, "-h", "127.0.0.1", "-p", port])


if __name__ == "__main__":
    main(*sys.argv[1:])
