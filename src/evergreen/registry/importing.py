"""Models trained elsewhere: ``evergreen models import NAME PATH --flavor sklearn|onnx``.

``--flavor sklearn`` accepts a skops file (``.skops``, loaded without running code), a joblib
or pickle file (``.joblib``/``.pkl``; unpickling runs code from the file, so only with
``trust_pickle``), and an MLflow model directory (``MLmodel`` with the ``sklearn`` flavor; its
signature is read from the ``MLmodel`` file). The model is stored through evergreen's flavor
(skops), so it loads safely from then on. The signature is the one given, else MLflow's, else
inferred from the estimator's ``feature_names_in_`` (as float64 inputs); without any of them
the import is refused.

``--flavor onnx`` accepts an ``.onnx`` file or an MLflow model directory with the ``onnx``
flavor; the graph is checked by opening an onnxruntime session and stored as it is. The
signature is the one given, else MLflow's, else the graph's: its per-column inputs, or one
matrix input whose columns the graph's metadata names; otherwise ``--signature FILE`` is needed.

The version is registered without a gate verdict or a data validation: promoting it to
production needs ``--force --reason`` (recorded), or a retrain by the pipeline.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from evergreen.errors import EvergreenError, InvalidInput, NotFound
from evergreen.flavors import Signature, get_flavor
from evergreen.flavors.base import ColumnSpec, DType, Task
from evergreen.registry.registry import Registry
from evergreen.store.tables import ModelVersionRow

PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")
# MLflow's column types (mlflow.types.DataType) to evergreen's.
MLFLOW_TYPES: dict[str, DType] = {
    "double": "float64",
    "float": "float64",
    "long": "int64",
    "integer": "int64",
    "boolean": "bool",
    "string": "string",
}
FLAVORS = ("sklearn", "onnx")


def import_model(
    registry: Registry,
    name: str,
    path: str | Path,
    *,
    flavor: str,
    actor: str,
    signature: Signature | None = None,
    task: Task | None = None,
    trust_pickle: bool = False,
    description: str = "",
) -> ModelVersionRow:
    """Register the model at ``path`` as the next version of ``name`` (created if new)."""
    if flavor not in FLAVORS:
        raise InvalidInput(
            f"cannot import flavor {flavor!r}: importing supports {', '.join(FLAVORS)} so far"
        )
    source = Path(path)
    if not source.exists():
        raise NotFound(f"{source}: no such file or folder")
    if flavor == "onnx":
        task = signature.task if signature is not None else task
        model, found_signature, kind = _read_onnx(source, task, infer=signature is None)
        signature = signature or found_signature
    else:
        model, found_signature, kind = _read(source, trust_pickle)
        task = task or _task_of(model)
        signature = signature or found_signature or _inferred(model, task)
    if signature is None:
        raise InvalidInput(
            f"{source}: cannot tell the model's input columns (no feature_names_in_, no MLflow "
            "signature); pass --signature FILE"
        )
    task = task or signature.task
    registry.ensure_model(name, task=task, target=signature.output.name, actor=actor)
    return registry.register(
        name,
        model,
        flavor=flavor,
        signature=signature,
        actor=actor,
        description=description,
        tags={"imported_from": str(source.resolve()), "format": kind},
    )


def read_signature(path: str | Path) -> Signature:
    """A signature JSON file: ``{"inputs": [{"name", "dtype"}...], "output": {...}, "task"}``."""
    file = Path(path)
    try:
        data = json.loads(file.read_text())
    except FileNotFoundError:
        raise NotFound(f"{file}: no such signature file") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{file}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    try:
        return Signature.model_validate(data)
    except ValueError as exc:
        raise InvalidInput(f"{file}: not a valid signature: {exc}") from None


def _read(source: Path, trust_pickle: bool) -> tuple[Any, Signature | None, str]:
    if source.is_dir():
        return _read_mlflow(source, trust_pickle)
    suffix = source.suffix.lower()
    if suffix == ".skops":
        return _load_skops(source), None, "skops"
    if suffix in PICKLE_SUFFIXES:
        return _unpickle(source, trust_pickle), None, "joblib"
    raise InvalidInput(
        f"{source}: unknown model file type {suffix or '(none)'!r}; use a .skops or "
        ".joblib/.pkl file, or an MLflow model directory"
    )


def _load_skops(file: Path) -> Any:
    try:
        return get_flavor("sklearn").load(file.read_bytes())
    except EvergreenError:
        raise
    except Exception as exc:  # skops raises zipfile, JSON and type errors on a bad file
        raise InvalidInput(f"{file}: not a readable skops file: {type(exc).__name__}") from None


def _unpickle(file: Path, trust_pickle: bool) -> Any:
    if not trust_pickle:
        raise InvalidInput(
            f"{file}: loading a pickle runs code from the file; pass --trust-pickle if you "
            "trust where it came from (evergreen stores it as skops afterwards)"
        )
    import joblib  # type: ignore[import-untyped]

    try:
        return joblib.load(file)
    except Exception as exc:  # a broken or foreign pickle raises anything
        raise InvalidInput(f"{file}: cannot load: {type(exc).__name__}: {exc}") from None


def _read_onnx(
    source: Path, task: Task | None, *, infer: bool
) -> tuple[Any, Signature | None, str]:
    """The ONNX model at ``source`` and, when ``infer``, its signature (MLflow's, else the
    graph's; InvalidInput when the graph does not name its columns)."""
    from evergreen.flavors.onnx import infer_signature

    signature: Signature | None = None
    if source.is_dir():
        spec, spec_file = _mlflow_spec(source)
        found = (spec.get("flavors") or {}).get("onnx")
        if not isinstance(found, dict) or "data" not in found:
            flavors = ", ".join(spec.get("flavors") or {}) or "none"
            raise InvalidInput(f"{spec_file}: no onnx flavor (flavors: {flavors})")
        model, kind = _load_onnx(source / str(found["data"])), "mlflow"
        if infer:
            signature = _mlflow_signature(spec, spec_file, task or _onnx_task(model))
    elif source.suffix.lower() == ".onnx":
        model, kind = _load_onnx(source), "onnx"
    else:
        raise InvalidInput(
            f"{source}: unknown model file type {source.suffix or '(none)'!r}; use an .onnx file "
            "or an MLflow model directory with the onnx flavor"
        )
    if infer and signature is None:
        signature = infer_signature(model, task)
    return model, signature, kind


def _load_onnx(file: Path) -> Any:
    if not file.is_file():
        raise NotFound(f"{file}: no such file")
    try:
        return get_flavor("onnx").load(file.read_bytes())
    except InvalidInput as exc:
        raise InvalidInput(f"{file}: {exc}") from None


def _onnx_task(model: Any) -> Task:
    """What the graph's first output says: numbers for a regressor, labels for a classifier."""
    from evergreen.flavors.onnx import DTYPES

    output = model.session.get_outputs()[0]
    return "regression" if DTYPES.get(output.type) == "float64" else "classification"


def _mlflow_spec(folder: Path) -> tuple[dict[str, Any], Path]:
    spec_file = folder / "MLmodel"
    if not spec_file.is_file():
        raise InvalidInput(f"{folder}: not an MLflow model directory (no MLmodel file)")
    spec = yaml.safe_load(spec_file.read_text()) or {}
    return spec, spec_file


def _read_mlflow(folder: Path, trust_pickle: bool) -> tuple[Any, Signature | None, str]:
    spec, spec_file = _mlflow_spec(folder)
    sklearn = (spec.get("flavors") or {}).get("sklearn")
    if not isinstance(sklearn, dict) or "pickled_model" not in sklearn:
        flavors = ", ".join(spec.get("flavors") or {}) or "none"
        raise InvalidInput(f"{spec_file}: no sklearn flavor (flavors: {flavors})")
    file = folder / str(sklearn["pickled_model"])
    if sklearn.get("serialization_format") == "skops" or file.suffix == ".skops":
        model = _load_skops(file)
    else:
        model = _unpickle(file, trust_pickle)
    return model, _mlflow_signature(spec, spec_file, _task_of(model)), "mlflow"


def _mlflow_signature(spec: dict[str, Any], where: Path, task: Task) -> Signature | None:
    found = spec.get("signature")
    if not isinstance(found, dict) or not found.get("inputs"):
        return None
    try:
        inputs = json.loads(found["inputs"])
        outputs = json.loads(found.get("outputs") or "[]")
        columns = [ColumnSpec(name=c["name"], dtype=MLFLOW_TYPES[c["type"]]) for c in inputs]
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise InvalidInput(
            f"{where}: a column-based signature was expected (tensor signatures are not "
            f"supported): {exc}"
        ) from None
    out = outputs[0] if outputs else {}
    output = ColumnSpec(
        name=out.get("name") or "prediction",
        dtype=MLFLOW_TYPES.get(str(out.get("type")), "float64"),
    )
    return Signature(inputs=columns, output=output, task=task)


def _task_of(model: Any) -> Task:
    from sklearn.base import is_classifier

    return "classification" if is_classifier(model) else "regression"


def _inferred(model: Any, task: Task) -> Signature | None:
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        return None
    inputs = [ColumnSpec(name=str(n), dtype="float64") for n in names]
    output = ColumnSpec(
        name="prediction", dtype="string" if task == "classification" else "float64"
    )
    return Signature(inputs=inputs, output=output, task=task)
