"""Importing models trained elsewhere: skops files, joblib files (only when trusted) and MLflow
model directories, with their signatures; bad input registers nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
import yaml
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline

from evergreen.errors import InvalidInput, NotFound, PromotionRefused
from evergreen.flavors import Signature
from evergreen.registry import Registry
from evergreen.registry.importing import import_model, read_signature

FRAME = pd.DataFrame({"temp": np.linspace(0, 1, 50), "hum": np.linspace(1, 0, 50) ** 2})
TARGET = FRAME["temp"] * 3 + FRAME["hum"]


def regressor() -> LinearRegression:
    return LinearRegression().fit(FRAME, TARGET)


def test_a_skops_file_comes_in_with_an_inferred_signature(
    registry: Registry, tmp_path: Path
) -> None:
    file = tmp_path / "model.skops"
    file.write_bytes(sio.dumps(regressor()))
    row = import_model(registry, "imported", file, flavor="sklearn", actor="alice")
    assert row.version == 1 and row.tags["format"] == "skops"
    assert [c["name"] for c in row.signature["inputs"]] == ["temp", "hum"]
    assert row.signature["task"] == "regression"
    loaded = registry.load("imported", 1)
    assert np.allclose(loaded.predict(FRAME), regressor().predict(FRAME))
    # No gate verdict nor validation: production only by a recorded override.
    with pytest.raises(PromotionRefused, match="no passing gate verdict"):
        registry.promote("imported", 1, "production", actor="alice")


def test_a_joblib_file_needs_trust(registry: Registry, tmp_path: Path) -> None:
    file = tmp_path / "model.joblib"
    joblib.dump(LogisticRegression().fit(FRAME, TARGET > 2), file)
    with pytest.raises(InvalidInput, match="--trust-pickle"):
        import_model(registry, "clf", file, flavor="sklearn", actor="alice")
    assert [m.name for m in registry.list_models()] == ["bikes"]

    row = import_model(registry, "clf", file, flavor="sklearn", actor="alice", trust_pickle=True)
    assert row.signature["task"] == "classification" and row.tags["format"] == "joblib"


def mlflow_dir(folder: Path, *, signature: bool = True) -> Path:
    """A model directory as MLflow's ``mlflow.sklearn.save_model`` writes it."""
    folder.mkdir()
    joblib.dump(regressor(), folder / "model.pkl")
    spec: dict[str, object] = {
        "flavors": {
            "python_function": {"loader_module": "mlflow.sklearn", "model_path": "model.pkl"},
            "sklearn": {"pickled_model": "model.pkl", "serialization_format": "cloudpickle"},
        },
        "mlflow_version": "2.17.0",
    }
    if signature:
        spec["signature"] = {
            "inputs": json.dumps(
                [
                    {"type": "double", "name": "temp", "required": True},
                    {"type": "double", "name": "hum", "required": True},
                ]
            ),
            "outputs": json.dumps([{"type": "double", "required": True}]),
        }
    (folder / "MLmodel").write_text(yaml.safe_dump(spec))
    return folder


def test_an_mlflow_directory_brings_its_signature(registry: Registry, tmp_path: Path) -> None:
    folder = mlflow_dir(tmp_path / "mlflow-model")
    row = import_model(registry, "fromflow", folder, flavor="sklearn", actor="a", trust_pickle=True)
    assert row.tags["format"] == "mlflow"
    assert row.signature["inputs"] == [
        {"name": "temp", "dtype": "float64"},
        {"name": "hum", "dtype": "float64"},
    ]
    assert row.signature["output"] == {"name": "prediction", "dtype": "float64"}


def test_a_given_signature_wins_and_is_checked(registry: Registry, tmp_path: Path) -> None:
    file = tmp_path / "model.skops"
    file.write_bytes(sio.dumps(regressor()))
    given = tmp_path / "signature.json"
    given.write_text(
        json.dumps(
            {
                "inputs": [
                    {"name": "temp", "dtype": "float64"},
                    {"name": "hum", "dtype": "float64"},
                ],
                "output": {"name": "load", "dtype": "float64"},
                "task": "regression",
            }
        )
    )
    row = import_model(
        registry, "given", file, flavor="sklearn", actor="a", signature=read_signature(given)
    )
    assert row.signature["output"]["name"] == "load"
    given.write_text(
        '{"inputs": [], "output": {"name": "x", "dtype": "complex"}, "task": "regression"}'
    )
    with pytest.raises(InvalidInput, match="not a valid signature"):
        read_signature(given)


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda d: d / "missing.skops", NotFound, "no such file"),
        (
            lambda d: (d / "model.txt").write_text("x") and d / "model.txt",
            InvalidInput,
            "unknown model file type",
        ),
        (
            lambda d: (d / "folder").mkdir() or d / "folder",
            InvalidInput,
            "not an MLflow model directory",
        ),
        (
            lambda d: (d / "bad.skops").write_bytes(b"not a zip") and d / "bad.skops",
            InvalidInput,
            "not a readable skops file",
        ),
    ],
    ids=["missing", "txt", "plain-folder", "corrupt-skops"],
)
def test_bad_input_registers_nothing(
    registry: Registry, tmp_path: Path, make: object, error: type[Exception], message: str
) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(error, match=message):
        import_model(registry, "bad", path, flavor="sklearn", actor="a")
    assert [m.name for m in registry.list_models()] == ["bikes"]


def test_other_flavors_are_refused(registry: Registry, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="importing supports sklearn, onnx so far"):
        import_model(registry, "x", tmp_path, flavor="xgboost", actor="a")


def onnx_file(folder: Path, model: Any, target: pd.Series, *, per_column: bool = True) -> Any:
    """``model`` fitted, then converted by skl2onnx to ``folder/model.onnx``: behind a
    ``ColumnTransformer`` taking one input per column, or alone on one [N, 2] matrix."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    options = {"zipmap": False} if isinstance(model, LogisticRegression) else None
    if per_column:
        columns = ColumnTransformer([("x", "passthrough", list(FRAME.columns))])
        model = make_pipeline(columns, model)
        types = [(c, FloatTensorType([None, 1])) for c in FRAME.columns]
    else:
        types = [("X", FloatTensorType([None, 2]))]
    model.fit(FRAME, target)
    proto = convert_sklearn(model, initial_types=types, options=options)
    (folder / "model.onnx").write_bytes(proto.SerializeToString())
    return model


@pytest.mark.parametrize(
    ("model", "target", "task"),
    [
        (LinearRegression(), TARGET, "regression"),
        (LogisticRegression(), TARGET > 2, "classification"),
    ],
    ids=["regressor", "classifier"],
)
def test_an_onnx_file_comes_in_with_the_graphs_signature(
    registry: Registry, tmp_path: Path, model: Any, target: pd.Series, task: str
) -> None:
    model = onnx_file(tmp_path, model, target)
    file = tmp_path / "model.onnx"
    row = import_model(registry, "graph", file, flavor="onnx", actor="a")
    assert (row.flavor, row.tags["format"], row.signature["task"]) == ("onnx", "onnx", task)
    assert [c["name"] for c in row.signature["inputs"]] == ["temp", "hum"]
    loaded = registry.load("graph", 1)
    expected = model.predict(FRAME)
    if task == "regression":
        assert np.allclose(loaded.predict(FRAME), expected, rtol=1e-5)
    else:
        assert np.array_equal(loaded.predict(FRAME).astype(bool), expected)


def test_an_onnx_matrix_graph_needs_a_signature(registry: Registry, tmp_path: Path) -> None:
    onnx_file(tmp_path, LinearRegression(), TARGET, per_column=False)
    file = tmp_path / "model.onnx"
    with pytest.raises(InvalidInput, match="pass --signature FILE"):
        import_model(registry, "matrix", file, flavor="onnx", actor="a")
    assert [m.name for m in registry.list_models()] == ["bikes"]
    given = Signature.infer(FRAME, TARGET.rename("load"), "regression")
    row = import_model(registry, "matrix", file, flavor="onnx", actor="a", signature=given)
    assert row.signature["output"]["name"] == "load"
    assert np.allclose(registry.load("matrix", 1).predict(FRAME), regressor().predict(FRAME))


def test_an_mlflow_directory_with_the_onnx_flavor(registry: Registry, tmp_path: Path) -> None:
    folder = tmp_path / "mlflow-onnx"
    folder.mkdir()
    onnx_file(folder, LinearRegression(), TARGET)
    spec = {"flavors": {"onnx": {"data": "model.onnx", "onnx_version": "1.17"}}}
    (folder / "MLmodel").write_text(yaml.safe_dump(spec))
    row = import_model(registry, "flowgraph", folder, flavor="onnx", actor="a")
    assert row.tags["format"] == "mlflow" and row.signature["task"] == "regression"
    with pytest.raises(InvalidInput, match="no onnx flavor"):
        import_model(registry, "flowgraph", mlflow_dir(tmp_path / "sk"), flavor="onnx", actor="a")


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [("model.onnx", b"not a graph", "not a readable ONNX model"), ("m.bin", b"x", "use an .onnx")],
    ids=["corrupt", "suffix"],
)
def test_bad_onnx_input_registers_nothing(
    registry: Registry, tmp_path: Path, name: str, body: bytes, message: str
) -> None:
    (tmp_path / name).write_bytes(body)
    with pytest.raises(InvalidInput, match=message):
        import_model(registry, "bad", tmp_path / name, flavor="onnx", actor="a")
    assert [m.name for m in registry.list_models()] == ["bikes"]


def test_mlflow_without_signature_falls_back_to_feature_names(
    registry: Registry, tmp_path: Path
) -> None:
    folder = mlflow_dir(tmp_path / "nosig", signature=False)
    row = import_model(registry, "nosig", folder, flavor="sklearn", actor="a", trust_pickle=True)
    assert [c["name"] for c in row.signature["inputs"]] == ["temp", "hum"]
