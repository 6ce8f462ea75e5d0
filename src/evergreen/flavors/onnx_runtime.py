"""ONNX graphs on DataFrames: running a graph, giving a graph one input per column, and checking
an export against the model it came from. Shared by the ``onnx`` flavor and every export.

Exports take one input per signature column, named after the column ([N, 1] float tensors for
numbers and booleans, [N, 1] string tensors for strings), so a serving fast path feeds columns
by name with no knowledge of the model. Graphs made elsewhere may instead take one [N, k]
matrix; ``feeds`` handles both.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from evergreen.flavors.base import Flavor, OnnxExport, Signature, Task

_JOINED = "evergreen_columns"  # the matrix that column_inputs joins the columns into
ONNX_MISSING = "onnx extra not installed (pip install 'evergreen[onnx]')"
# Regression outputs match when allclose after float32; classifications when this share of
# labels agree (a float32 threshold may flip a row sitting exactly on a split).
RTOL, ATOL, LABELS_AGREE = 1e-4, 1e-5, 0.999

_NUMPY_TYPES: dict[str, Any] = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
    "tensor(string)": object,
}


def onnx_installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxruntime"))


def session(data: bytes, *, threads: int = 0) -> Any:
    """An onnxruntime session on the CPU, quiet about shape mismatches in declared outputs;
    ``threads``: for one operator (0: one per core; a gateway with several workers and small
    batches does better with 1, and no thread spinning between requests)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])


class Graph:
    """A session with what its inputs and first output are, read once: ``get_inputs()`` builds
    new objects on every call, which a serving path cannot afford per request."""

    def __init__(self, session: Any) -> None:
        self.session = session
        inputs = session.get_inputs()
        self.inputs: list[tuple[str, str, int]] = [(i.name, i.type, len(i.shape)) for i in inputs]
        self.per_column = all(
            len(i.shape) == 1 or (len(i.shape) == 2 and i.shape[1] == 1) for i in inputs
        )
        self.output: str = session.get_outputs()[0].name
        types = {onnx_type for _, onnx_type, _ in self.inputs}
        one = _NUMPY_TYPES.get(types.pop()) if len(types) == 1 else None
        # every input one column of one numeric type: fed from one array of the whole frame
        self.block_dtype: Any = one if self.per_column and one not in (None, object) else None
        self.names = tuple(name for name, _, _ in self.inputs)

    def feeds(self, frame: pd.DataFrame, columns: Sequence[str]) -> dict[str, np.ndarray]:
        """The graph's inputs from ``frame``: column by column by name, or one matrix of
        ``columns`` in order when the graph takes a single [N, k] input."""
        if self.block_dtype is not None and tuple(frame.columns) == self.names:
            by_column = np.ascontiguousarray(frame.to_numpy(dtype=self.block_dtype).T)
            return {
                name: by_column[j] if rank == 1 else by_column[j].reshape(-1, 1)
                for j, (name, _, rank) in enumerate(self.inputs)
            }
        if self.per_column and all(name in frame.columns for name in self.names):
            return {name: _column(frame[name], kind, rank) for name, kind, rank in self.inputs}
        if len(self.inputs) == 1:
            name, kind, _ = self.inputs[0]
            ordered = frame if tuple(frame.columns) == tuple(columns) else frame[list(columns)]
            return {name: ordered.to_numpy(dtype=_numpy_type(kind))}
        raise ValueError(
            f"the graph's inputs {list(self.names)} are neither one per column of "
            f"{list(columns)} nor one matrix"
        )

    def run(self, frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
        """The graph's first output on ``frame`` (labels, for a classifier), one value per row."""
        out = np.asarray(self.session.run([self.output], self.feeds(frame, columns))[0])
        return out[:, 0] if out.ndim == 2 and out.shape[1] == 1 else out


def run(session: Any, frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """The graph's first output on ``frame`` (labels, for a classifier), one value per row."""
    return Graph(session).run(frame, columns)


def compare(expected: np.ndarray, got: np.ndarray, task: Task) -> str | None:
    """Why ``got`` (from ONNX) does not stand for ``expected`` (from the model), or None."""
    if got.shape[0] != expected.shape[0] or got.ndim != expected.ndim:
        return f"outputs differ in shape: {got.shape} from ONNX, {expected.shape} from the model"
    if task == "regression":
        want, have = expected.astype(np.float32), got.astype(np.float32)
        if np.allclose(have, want, rtol=RTOL, atol=ATOL):
            return None
        worst = float(np.max(np.abs(have - want)))
        return f"outputs differ by up to {worst:.3g} (allowed: rtol {RTOL:g}, atol {ATOL:g})"
    if expected.dtype.kind in "biuf" and got.dtype.kind in "biuf":
        same = got.astype(expected.dtype) == expected
    else:
        same = got.astype(str) == expected.astype(str)
    agree = float(np.mean(same)) if len(same) else 1.0
    if agree >= LABELS_AGREE:
        return None
    return f"outputs differ: labels disagree on {1 - agree:.1%} of {len(same)} rows"


def converted(
    convert: Callable[[], bytes],
    tool: str,
    flavor: Flavor,
    model: Any,
    signature: Signature,
    sample: pd.DataFrame,
) -> OnnxExport:
    """The export a converter (``tool``: skl2onnx, onnxmltools) makes, verified on ``sample``;
    or why there is none (the onnx extra missing, the converter refusing the model)."""
    if not onnx_installed():
        return OnnxExport(None, ONNX_MISSING)
    try:
        data = convert()
    except ImportError:
        return OnnxExport(None, ONNX_MISSING)
    except Exception as exc:  # converters raise many types for what they cannot convert
        return OnnxExport(None, f"{tool} cannot convert {type(model).__name__}: {short(exc)}")
    return verified(data, flavor, model, signature, sample)


def verified(
    data: bytes, flavor: Flavor, model: Any, signature: Signature, sample: pd.DataFrame
) -> OnnxExport:
    """``data`` as the export when onnxruntime's outputs on ``sample`` match the flavor's
    predictions."""
    if sample.empty:
        return OnnxExport(None, "no sample rows to verify the export on")
    expected = flavor.predict(model, signature.conform(sample))
    try:
        got = run(session(data), signature.conform(sample), signature.input_names)
    except Exception as exc:  # onnxruntime raises its own types for graphs it cannot run
        return OnnxExport(None, f"onnxruntime cannot run the export: {short(exc)}")
    reason = compare(expected, got, signature.task)
    if reason is not None:
        return OnnxExport(None, reason)
    return OnnxExport(data, f"verified against the model on {len(sample)} rows")


def column_inputs(model: Any, columns: Sequence[str]) -> Any:
    """``model`` (an ``onnx.ModelProto`` taking one [N, k] float input) rewritten to take one
    [N, 1] float input per column, joined by a ``Concat`` in front of the original graph."""
    from onnx import TensorProto, checker, helper

    graph = model.graph
    if len(graph.input) != 1:
        raise ValueError(f"expected one matrix input, found {len(graph.input)}")
    taken = {o for node in graph.node for o in node.output} | {i.name for i in graph.initializer}
    clashes = sorted(taken & set(columns))
    if clashes:
        raise ValueError(f"column name(s) {clashes} clash with names inside the graph")
    matrix, joined = graph.input[0].name, _JOINED
    for node in graph.node:
        node.input[:] = [joined if name == matrix else name for name in node.input]
    del graph.input[:]
    graph.input.extend(
        helper.make_tensor_value_info(c, TensorProto.FLOAT, [None, 1]) for c in columns
    )
    graph.node.insert(0, helper.make_node("Concat", list(columns), [joined], axis=1))
    if not any(o.domain in ("", "ai.onnx") for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("", 13))
    checker.check_model(model)
    return model


def matrix_input(data: bytes) -> bytes | None:
    """The graph ``column_inputs`` made, given back its one [N, k] float input (ONNX Runtime
    spends ~3 us per input on every run: ~90 us for 30 columns, where the matrix takes ~10 us);
    None for any other graph."""
    from onnx import TensorProto, checker, helper, load_from_string

    model = load_from_string(data)
    graph = model.graph
    inputs = [i.name for i in graph.input]
    if not graph.node:
        return None
    front = graph.node[0]
    floats = all(i.type.tensor_type.elem_type == TensorProto.FLOAT for i in graph.input)
    axis = [a.i for a in front.attribute if a.name == "axis"]
    if (
        front.op_type != "Concat"
        or list(front.output) != [_JOINED]
        or list(front.input) != inputs
        or axis != [1]
        or not floats
        or not any(_JOINED in node.input for node in graph.node[1:])
    ):
        return None
    del graph.node[0]
    del graph.input[:]
    graph.input.append(
        helper.make_tensor_value_info(_JOINED, TensorProto.FLOAT, [None, len(inputs)])
    )
    checker.check_model(model)
    out: bytes = model.SerializeToString()
    return out


def short(exc: BaseException, limit: int = 300) -> str:
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _numpy_type(onnx_type: str) -> Any:
    try:
        return _NUMPY_TYPES[onnx_type]
    except KeyError:
        raise ValueError(f"unsupported ONNX input type {onnx_type}") from None


def _column(series: pd.Series, onnx_type: str, rank: int) -> np.ndarray:
    dtype = _numpy_type(onnx_type)
    if dtype is object:
        values = series.astype(str).to_numpy(dtype=object)
    else:
        values = series.to_numpy(dtype=dtype)
    return values if rank == 1 else values.reshape(-1, 1)
