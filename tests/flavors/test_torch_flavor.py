"""PyTorch estimators and their flavor: deterministic CPU training, archives without pickle that
load without the project's module code (and without a GPU), verified ONNX exports, the registry
round trip. The CUDA case runs where a GPU is present:
``pytest tests/flavors/test_torch_flavor.py -k cuda``."""

from __future__ import annotations

import io
import json
import pickle
import zipfile

import cloudpickle
import numpy as np
import pytest
import torch
from sklearn.base import clone
from torch import nn

from evergreen.errors import IntegrityFailure, InvalidInput, Unavailable
from evergreen.flavors import flavor_for, get_flavor
from evergreen.flavors.onnx_runtime import run, session
from evergreen.flavors.torch import TorchClassifier, TorchRegressor
from evergreen.registry import Registry
from flavors.support import features, labels, register_and_load, regression_target, signature

FLAVOR = get_flavor("torch")
FRAME = features()
TARGET = regression_target(FRAME)


def network(n_in: int) -> nn.Module:
    return nn.Sequential(nn.Linear(n_in, 16), nn.ReLU(), nn.Linear(16, 1))


def regressor(**params: object) -> TorchRegressor:
    return TorchRegressor(module=network, epochs=15, batch_size=32, **params).fit(FRAME, TARGET)


def classifier() -> TorchClassifier:
    return TorchClassifier(epochs=15, batch_size=32).fit(FRAME, labels(FRAME))


def test_a_regressor_learns_and_is_deterministic_on_the_cpu() -> None:
    model = regressor()
    assert model.device_ == "cpu"
    assert model.score(FRAME, TARGET) > 0.9
    assert np.array_equal(regressor().predict(FRAME), model.predict(FRAME))
    assert not np.array_equal(regressor(seed=1).predict(FRAME), model.predict(FRAME))
    assert model.predict(FRAME.iloc[:1]).shape == (1,)  # the batch size is dynamic


def test_the_archive_loads_without_module_code_and_refits_to_the_same_bytes() -> None:
    model = regressor()
    data = FLAVOR.save(model)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == ["header.json", "program.pt2"]
        header = json.loads(archive.read("header.json"))
    assert header["columns"] == ["temp", "hum", "wind"] and "module" not in header["params"]
    loaded = FLAVOR.load(data)
    assert isinstance(loaded, TorchRegressor) and loaded.module is None
    assert np.array_equal(loaded.predict(FRAME), model.predict(FRAME))
    assert FLAVOR.save(regressor()) == data


def test_a_classifier_keeps_its_classes() -> None:
    words = labels(FRAME).map({0: "calm", 1: "busy", 2: "rush"})
    model = TorchClassifier(epochs=15, batch_size=32).fit(FRAME, words)
    assert model.score(FRAME, words) > 0.8
    loaded = FLAVOR.load(FLAVOR.save(model))
    assert list(loaded.classes_) == ["busy", "calm", "rush"]
    assert np.array_equal(loaded.predict(FRAME), model.predict(FRAME))
    assert np.allclose(loaded.predict_proba(FRAME).sum(axis=1), 1, atol=1e-5)
    sig = signature(FRAME, words, "classification")
    export = FLAVOR.export_onnx(model, sig, FRAME)
    assert export.data is None and "integer or boolean classes" in export.reason


def test_an_estimator_clones_and_pickles_for_process_pools() -> None:
    model = regressor()
    assert clone(model).get_params()["module"] is network
    again = pickle.loads(cloudpickle.dumps(model))
    assert np.array_equal(again.predict(FRAME), model.predict(FRAME))


def test_string_columns_are_refused_by_name() -> None:
    frame = FRAME.assign(day="mon", shift="early")
    with pytest.raises(InvalidInput, match="not numeric: day, shift"):
        TorchRegressor(epochs=1).fit(frame, TARGET)


def test_an_archive_asking_for_unpickling_is_refused() -> None:
    data = FLAVOR.save(regressor())
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        program = archive.read("program.pt2")
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(program)) as source, zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            body = source.read(name)
            if name.endswith("model_weights_config.json"):
                body = body.replace(b'"use_pickle": false', b'"use_pickle": true')
            target.writestr(name, body)
    from evergreen.flavors.archive import pack

    header = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("header.json"))
    with pytest.raises(IntegrityFailure, match="asks for unpickling"):
        FLAVOR.load(pack(header, {"program.pt2": out.getvalue()}))


@pytest.mark.parametrize(
    ("make", "task"), [(regressor, "regression"), (classifier, "classification")]
)
def test_the_onnx_export_takes_columns_by_name_and_matches(make: object, task: str) -> None:
    model = FLAVOR.load(FLAVOR.save(make()))  # type: ignore[operator]  # loaded: no module code
    target = TARGET if task == "regression" else labels(FRAME)
    sig = signature(FRAME, target, task)  # type: ignore[arg-type]
    export = FLAVOR.export_onnx(model, sig, FRAME)
    assert export.data is not None, export.reason
    graph = session(export.data)
    assert [i.name for i in graph.get_inputs()] == ["temp", "hum", "wind"]
    got = run(graph, FRAME, sig.input_names)
    if task == "regression":
        assert np.allclose(got, model.predict(FRAME), rtol=1e-4, atol=1e-3)
    else:
        assert np.array_equal(got, model.predict(FRAME))


def test_flavor_for_params_and_the_registry(registry: Registry) -> None:
    model = regressor()
    assert flavor_for(model) is FLAVOR
    assert FLAVOR.params(model)["module"] == "network"
    assert FLAVOR.params(model)["epochs"] == 15
    register_and_load(registry, model, "torch", signature(FRAME, TARGET, "regression"), FRAME)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_training_saves_a_model_that_loads_on_the_cpu() -> None:
    model = regressor()
    assert model.device_ == "cuda"
    data = FLAVOR.save(model)
    loaded = FLAVOR.load(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert json.loads(archive.read("header.json"))["trained_on"] == "cuda"
    assert np.allclose(loaded.predict(FRAME), model.predict(FRAME), rtol=1e-5, atol=1e-4)
    assert model.score(FRAME, TARGET) > 0.9


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without a GPU")
def test_asking_for_cuda_without_a_gpu_is_unavailable() -> None:
    with pytest.raises(Unavailable, match="use device='auto'"):
        TorchRegressor(device="cuda", epochs=1).fit(FRAME, TARGET)
    with pytest.raises(InvalidInput, match="not a torch device"):
        TorchRegressor(device="tpu9", epochs=1).fit(FRAME, TARGET)
