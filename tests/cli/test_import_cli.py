"""`evergreen models import NAME FILE.onnx --flavor onnx`: the real executable, a real home."""

from __future__ import annotations

import json
from pathlib import Path

from cli.process import NewHome


def test_models_import_an_onnx_file(new_home: NewHome, tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline

    frame = pd.DataFrame({"temp": np.linspace(0, 1, 30), "hum": np.linspace(1, 0, 30) ** 2})
    target = frame["temp"] * 2 + frame["hum"]
    columns = ColumnTransformer([("x", "passthrough", ["temp", "hum"])])
    by_column = make_pipeline(columns, LinearRegression()).fit(frame, target)
    types = [(c, FloatTensorType([None, 1])) for c in frame.columns]
    (tmp_path / "columns.onnx").write_bytes(
        convert_sklearn(by_column, initial_types=types).SerializeToString()
    )
    matrix = LinearRegression().fit(frame, target)
    (tmp_path / "matrix.onnx").write_bytes(
        convert_sklearn(
            matrix, initial_types=[("X", FloatTensorType([None, 2]))]
        ).SerializeToString()
    )
    home = new_home()

    imported = home.json("models", "import", "graph", tmp_path / "columns.onnx", "--flavor", "onnx")
    assert (imported["version"], imported["tags"]["format"]) == (1, "onnx")
    assert imported["signature"]["inputs"] == [
        {"name": "temp", "dtype": "float64"},
        {"name": "hum", "dtype": "float64"},
    ]

    refused = home.run("models", "import", "graph", tmp_path / "matrix.onnx", "--flavor", "onnx")
    assert refused.returncode == 2 and "pass --signature FILE" in refused.stderr
    signature = {
        "inputs": [{"name": "temp", "dtype": "float64"}, {"name": "hum", "dtype": "float64"}],
        "output": {"name": "load", "dtype": "float64"},
        "task": "regression",
    }
    (tmp_path / "signature.json").write_text(json.dumps(signature))
    given = home.run(
        "models", "import", "graph", tmp_path / "matrix.onnx", "--flavor", "onnx",
        "--signature", tmp_path / "signature.json",
    )  # fmt: skip
    assert given.returncode == 0, given.stderr
    assert "as graph version 2 (2 inputs, regression)" in " ".join(given.stdout.split())
