"""PyTorch models as scikit-learn estimators, and their flavor.

``TorchRegressor`` and ``TorchClassifier`` wrap a network the project describes with a factory
(``module=lambda n_in: nn.Sequential(nn.Linear(n_in, 32), nn.ReLU(), nn.Linear(32, 1))``; a
classifier's factory takes ``(n_in, n_classes)``). They take numeric columns only, standardize
them (``mean_``, ``scale_``; a regressor its target too), train with Adam on CUDA when
``device="auto"`` and a GPU is present (``device_`` records where), and are deterministic on the
CPU for a given ``seed``. After training, the network, with the scaling inside, is moved to the
CPU and captured with ``torch.export`` (``program_``), which is what predicts from then on.

The flavor saves, in one zip (``archive.py``), that program (``torch.export.save``: a graph and
raw weights, no pickled code) and a header (columns, scaling, classes, parameters). Loading
needs neither a GPU nor the project's module code. ONNX exports use ``torch.onnx.export``.
"""

from __future__ import annotations

import copy
import io
import json
import warnings
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted
from torch import nn

from evergreen.errors import IntegrityFailure, InvalidInput, Unavailable
from evergreen.flavors import onnx_runtime
from evergreen.flavors.archive import classes_from_json, classes_to_json, pack, unpack
from evergreen.flavors.base import Flavor, OnnxExport, Signature, json_safe

ModuleFactory = Callable[..., nn.Module]
PROGRAM_FILE = "program.pt2"


class _TorchEstimator(BaseEstimator):  # type: ignore[misc]
    """What the regressor and the classifier share: data checks, scaling, the training loop."""

    _classifier = False

    def __init__(
        self,
        module: ModuleFactory | nn.Module | None = None,
        *,
        epochs: int = 50,
        lr: float = 1e-2,
        batch_size: int = 64,
        weight_decay: float = 0.0,
        device: str = "auto",
        seed: int = 0,
    ) -> None:
        self.module = module
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.device = device
        self.seed = seed

    # -- fitting ----------------------------------------------------------------------------
    def _fit(self, features: Any, target: torch.Tensor, n_out: int, loss: nn.Module) -> None:
        x = self._matrix(features, fitting=True)
        self.mean_ = x.mean(axis=0)
        scale = x.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0).astype(np.float32)
        device = self._device()
        self.device_ = device.type
        cuda = [torch.cuda.current_device()] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            torch.manual_seed(self.seed)
            network = self._network(x.shape[1], n_out).to(device)
            order = torch.Generator().manual_seed(self.seed)
            inputs = torch.from_numpy((x - self.mean_) / self.scale_).to(device)
            target = target.to(device)
            optimizer = torch.optim.Adam(
                network.parameters(), lr=self.lr, weight_decay=self.weight_decay
            )
            network.train()
            for _ in range(self.epochs):
                shuffled = torch.randperm(len(inputs), generator=order).to(device)
                for start in range(0, len(inputs), self.batch_size):
                    batch = shuffled[start : start + self.batch_size]
                    optimizer.zero_grad()
                    loss(network(inputs[batch]), target[batch]).backward()
                    optimizer.step()
        self.program_ = self._export(network.cpu().eval())

    def _network(self, n_in: int, n_out: int) -> nn.Module:
        if self.module is None:
            return nn.Sequential(nn.Linear(n_in, 32), nn.ReLU(), nn.Linear(32, n_out))
        if isinstance(self.module, nn.Module):
            return copy.deepcopy(self.module)
        network = self.module(n_in, n_out) if self._classifier else self.module(n_in)
        if not isinstance(network, nn.Module):
            raise InvalidInput(f"module() returned a {type(network).__name__}, not a torch Module")
        return network

    def _export(self, network: nn.Module) -> torch.export.ExportedProgram:
        scaled = _Scaled(network, self.mean_, self.scale_, *self._target_scaling())
        for parameter in scaled.parameters():
            parameter.requires_grad_(False)
        example = torch.zeros(4, len(self.mean_))
        batch = torch.export.Dim("batch")
        return torch.export.export(scaled, (example,), dynamic_shapes=({0: batch},))

    def _target_scaling(self) -> tuple[float, float]:
        return 0.0, 1.0

    def _device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            device = torch.device(self.device)
        except RuntimeError:
            raise InvalidInput(f"device={self.device!r} is not a torch device") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise Unavailable(
                f"device={self.device!r} asks for a CUDA GPU and none is available; "
                "use device='auto' to train on the CPU where there is none"
            )
        return device

    def _matrix(self, features: Any, *, fitting: bool = False) -> np.ndarray:
        frame = features if isinstance(features, pd.DataFrame) else pd.DataFrame(features)
        text = [str(c) for c in frame.columns if not _numeric(frame[c])]
        if text:
            raise InvalidInput(
                f"{type(self).__name__} takes numeric columns only; not numeric: "
                f"{', '.join(text)} (encode them first, e.g. with a OneHotEncoder)"
            )
        if fitting:
            self.n_features_in_ = frame.shape[1]
            if isinstance(features, pd.DataFrame):
                self.feature_names_in_ = np.asarray([str(c) for c in frame.columns], dtype=object)
        elif isinstance(features, pd.DataFrame) and hasattr(self, "feature_names_in_"):
            frame = frame[list(self.feature_names_in_)]
        if frame.shape[1] != self.n_features_in_:
            raise InvalidInput(
                f"{type(self).__name__} was fitted on {self.n_features_in_} columns, "
                f"got {frame.shape[1]}"
            )
        # pandas with copy-on-write may hand out a read-only view; torch wants writable memory
        return np.require(frame.to_numpy(dtype=np.float32), requirements="W")

    # -- predicting -------------------------------------------------------------------------
    def _forward(self, features: Any) -> np.ndarray:
        check_is_fitted(self, "program_")
        device = self.serving_device()
        with torch.no_grad():
            inputs = torch.from_numpy(self._matrix(features)).to(device)
            out = self._program_module(device)(inputs)
        result: np.ndarray = out.cpu().numpy()
        return result

    def serving_device(self) -> torch.device:
        """Where predictions run: the GPU when ``device`` allows one and CUDA is present."""
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        device = torch.device(self.device)
        return device if device.type != "cuda" or torch.cuda.is_available() else torch.device("cpu")

    def _program_module(self, device: torch.device | None = None) -> nn.Module:
        modules: dict[str, nn.Module] = self.__dict__.setdefault("_modules_on", {})
        key = str(device or "cpu")
        cached = modules.get(key)
        if cached is None:
            cached = self.program_.module()
            if device is not None and device.type != "cpu":
                cached = cached.to(device)
            modules[key] = cached
        return cached

    def __getstate__(self) -> dict[str, Any]:
        """Picklable (process pools send estimators back and forth): the exported program
        travels as ``torch.export.save`` bytes, which pickle can hold."""
        state = dict(super().__getstate__())
        state.pop("_modules_on", None)
        program = state.pop("program_", None)
        if program is not None:
            state["program_"] = _program_bytes(program)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if isinstance(state.get("program_"), bytes):
            state = {**state, "program_": torch.export.load(io.BytesIO(state["program_"]))}
        super().__setstate__(state)


class TorchRegressor(RegressorMixin, _TorchEstimator):  # type: ignore[misc]
    """A PyTorch regressor (mean squared error on the standardized target)."""

    def fit(self, features: Any, target: Any) -> TorchRegressor:
        y = np.asarray(target, dtype=np.float32).reshape(-1)
        self.target_mean_ = float(y.mean())
        self.target_scale_ = float(y.std()) or 1.0
        scaled = torch.from_numpy((y - self.target_mean_) / self.target_scale_).reshape(-1, 1)
        self._fit(features, scaled, 1, nn.MSELoss())
        return self

    def _target_scaling(self) -> tuple[float, float]:
        return self.target_mean_, self.target_scale_

    def predict(self, features: Any) -> np.ndarray:
        return self._forward(features).reshape(-1)


class TorchClassifier(ClassifierMixin, _TorchEstimator):  # type: ignore[misc]
    """A PyTorch classifier (cross-entropy over ``classes_``)."""

    _classifier = True

    def fit(self, features: Any, target: Any) -> TorchClassifier:
        self.classes_, codes = np.unique(np.asarray(target), return_inverse=True)
        self._fit(
            features,
            torch.from_numpy(codes.astype(np.int64)),
            len(self.classes_),
            nn.CrossEntropyLoss(),
        )
        return self

    def predict_proba(self, features: Any) -> np.ndarray:
        logits = torch.from_numpy(self._forward(features))
        result: np.ndarray = torch.softmax(logits, dim=1).numpy()
        return result

    def predict(self, features: Any) -> np.ndarray:
        result: np.ndarray = self.classes_[self._forward(features).argmax(axis=1)]
        return result


class _Scaled(nn.Module):
    """The trained network between the input's standardization and the target's."""

    mean: torch.Tensor
    scale: torch.Tensor

    def __init__(
        self, network: nn.Module, mean: np.ndarray, scale: np.ndarray, y_mean: float, y_scale: float
    ) -> None:
        super().__init__()
        self.network = network
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))
        self.y_mean, self.y_scale = y_mean, y_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.network((x - self.mean) / self.scale)
        return out * self.y_scale + self.y_mean


class _Columns(nn.Module):
    """ONNX's view of a program: one [N, 1] input per column, labels out for a classifier.

    The program's module is kept outside the module tree (the exporter would call ``train()``
    on it, which an exported program refuses), so its weights are traced as constants.
    """

    program: Callable[[torch.Tensor], torch.Tensor]

    def __init__(self, program: nn.Module, classes: torch.Tensor | None) -> None:
        super().__init__()
        object.__setattr__(self, "program", program)
        self.classes = classes

    def forward(self, *columns: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.program(torch.cat(columns, dim=1))
        if self.classes is None:
            return out
        return self.classes[out.argmax(dim=1)]


class TorchFlavor(Flavor):
    name = "torch"

    def device(self, model: Any) -> str:
        return str(model.serving_device().type) if self.owns(model) else "cpu"

    def owns(self, model: Any) -> bool:
        return isinstance(model, _TorchEstimator)

    def params(self, model: Any) -> dict[str, Any]:
        params = super().params(model)
        if "module" in params and model.module is not None:
            params["module"] = _describe(model.module)
        return params

    def save(self, model: Any) -> bytes:
        if not self.owns(model):
            raise InvalidInput(
                f"the torch flavor saves evergreen's torch estimators, not {type(model).__name__}"
            )
        check_is_fitted(model, "program_")
        header: dict[str, Any] = {
            "flavor": self.name,
            "class": type(model).__name__,
            "params": {k: v for k, v in self.params(model).items() if k != "module"},
            "columns": [str(c) for c in getattr(model, "feature_names_in_", [])],
            "n_features": int(model.n_features_in_),
            "mean": model.mean_.tolist(),
            "scale": model.scale_.tolist(),
            "trained_on": model.device_,
            "torch": torch.__version__.split("+")[0],
        }
        if isinstance(model, TorchRegressor):
            header["target"] = {"mean": model.target_mean_, "scale": model.target_scale_}
        if isinstance(model, TorchClassifier):
            header["classes"] = classes_to_json(model.classes_)
        return pack(header, {PROGRAM_FILE: _program_bytes(model.program_)})

    def load(self, data: bytes) -> Any:
        header, (program,) = unpack(data, self.name, (PROGRAM_FILE,))
        kind = {"TorchRegressor": TorchRegressor, "TorchClassifier": TorchClassifier}.get(
            str(header.get("class"))
        )
        if kind is None:
            raise IntegrityFailure(f"torch archive names an unknown class {header.get('class')!r}")
        _refuse_pickled_entries(program)
        model = kind(**header["params"])
        model.program_ = torch.export.load(io.BytesIO(program))
        model.n_features_in_ = header["n_features"]
        if header["columns"]:
            model.feature_names_in_ = np.asarray(header["columns"], dtype=object)
        model.mean_ = np.asarray(header["mean"], dtype=np.float32)
        model.scale_ = np.asarray(header["scale"], dtype=np.float32)
        model.device_ = header["trained_on"]
        if isinstance(model, TorchRegressor):
            model.target_mean_ = header["target"]["mean"]
            model.target_scale_ = header["target"]["scale"]
        if isinstance(model, TorchClassifier):
            model.classes_ = classes_from_json(header["classes"])
        return model

    def export_onnx(self, model: Any, signature: Signature, sample: pd.DataFrame) -> OnnxExport:
        if not onnx_runtime.onnx_installed():
            return OnnxExport(None, onnx_runtime.ONNX_MISSING)
        classes = None
        if isinstance(model, TorchClassifier):
            if model.classes_.dtype.kind not in "biu":
                return OnnxExport(
                    None, "a torch classifier exports to ONNX only with integer or boolean classes"
                )
            classes = torch.as_tensor(model.classes_.astype(np.int64))
        try:
            data = _onnx(_Columns(model._program_module(), classes), signature)
        except ImportError as exc:
            missing = exc.name or str(exc)
            return OnnxExport(None, f"torch.onnx.export needs {missing}, which is not installed")
        except Exception as exc:  # the exporter raises many types for what it cannot export
            return OnnxExport(None, f"torch.onnx.export failed: {onnx_runtime.short(exc)}")
        return onnx_runtime.verified(data, self, model, signature, sample)


def _onnx(columns: _Columns, signature: Signature) -> bytes:
    """The TorchScript-based exporter (``dynamo=False``): the torch.export-based default needs
    onnxscript, which the onnx extra does not bring. Its deprecation warnings are silenced; the
    result is verified against the model."""
    names = signature.input_names
    example = tuple(torch.zeros(2, 1) for _ in names)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            columns,
            example,
            buffer,  # type: ignore[arg-type]  # the TorchScript exporter writes to buffers too
            input_names=names,
            output_names=["prediction"],
            dynamic_axes={name: {0: "rows"} for name in [*names, "prediction"]},
            dynamo=False,
        )
    return buffer.getvalue()


def _program_bytes(program: torch.export.ExportedProgram) -> bytes:
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    return buffer.getvalue()


def _refuse_pickled_entries(program: bytes) -> None:
    """``torch.export.load`` unpickles weights flagged ``use_pickle`` (tensor subclasses) and
    falls back to a full unpickling of inputs it cannot read safely; an archive that would need
    either is refused before it is handed over."""
    try:
        with zipfile.ZipFile(io.BytesIO(program)) as archive:
            for name in archive.namelist():
                if name.endswith(("model_weights_config.json", "model_constants_config.json")):
                    entries = json.loads(archive.read(name)).get("config", {})
                    if any(entry.get("use_pickle") for entry in entries.values()):
                        raise IntegrityFailure(f"torch archive: {name} asks for unpickling")
                elif name.endswith(".pt"):
                    torch.load(io.BytesIO(archive.read(name)), weights_only=True)
    except IntegrityFailure:
        raise
    except Exception as exc:  # a corrupt archive or an entry the safe loader refuses
        raise IntegrityFailure(
            f"torch archive cannot be read safely: {onnx_runtime.short(exc)}"
        ) from None


def _describe(module: Any) -> str:
    name = getattr(module, "__qualname__", None) or type(module).__name__
    return str(json_safe(name))


def _numeric(series: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series))
