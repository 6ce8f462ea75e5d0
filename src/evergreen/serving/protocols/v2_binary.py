"""Raw tensor bytes of the Open Inference Protocol: the binary tensor data extension over REST
(``Inference-Header-Content-Length``) and the raw contents of the gRPC messages.

A raw tensor is its elements flattened in row-major order, little-endian, without padding; BOOL
takes one byte per element; a BYTES element is a 4-byte little-endian length, then its bytes.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np

from evergreen.errors import InvalidInput

HEADER_LENGTH = "Inference-Header-Content-Length"
EXTENSION = "binary_tensor_data"

# V2 datatype -> the little-endian numpy dtype of its raw elements (BYTES has none).
RAW_DTYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}


def split_body(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """The JSON header and the binary tail of a request body (all JSON without the header)."""
    if header_length is None:
        return body, b""
    if not header_length.strip().isdigit():
        raise InvalidInput(f"header {HEADER_LENGTH} must be a byte count, got {header_length!r}")
    length = int(header_length)
    if length > len(body):
        raise InvalidInput(
            f"header {HEADER_LENGTH} is {length} but the body has only {len(body)} bytes"
        )
    return body[:length], body[length:]


def from_raw(name: str, datatype: str, shape: tuple[int, ...], raw: bytes) -> np.ndarray:
    """The tensor ``name``'s elements (flat) from its raw bytes; BYTES elements are decoded as
    UTF-8 text. Raises ``InvalidInput`` naming the tensor when the size does not fit ``shape``."""
    count = math.prod(shape)
    if datatype == "BYTES":
        elements = _split_bytes(name, raw)
        if len(elements) != count:
            raise InvalidInput(
                f"tensor {name!r}: shape {list(shape)} holds {count} values "
                f"but its binary data has {len(elements)}"
            )
        try:
            return np.array([e.decode() for e in elements], dtype=object)
        except UnicodeDecodeError:
            raise InvalidInput(f"tensor {name!r}: BYTES elements must be UTF-8 text") from None
    dtype = RAW_DTYPES[datatype]
    expected = count * dtype.itemsize
    if len(raw) != expected:
        raise InvalidInput(
            f"tensor {name!r}: shape {list(shape)} of {datatype} takes {expected} bytes "
            f"but its binary data has {len(raw)}"
        )
    if datatype == "BOOL":
        values = np.frombuffer(raw, dtype=np.uint8)
        if values.size and values.max() > 1:
            raise InvalidInput(f"tensor {name!r}: BOOL bytes must be 0 or 1")
        return values.astype(np.bool_)
    return np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("="))


def _split_bytes(name: str, raw: bytes) -> list[bytes]:
    elements: list[bytes] = []
    offset = 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise InvalidInput(f"tensor {name!r}: BYTES data ends inside an element's length")
        (size,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        if offset + size > len(raw):
            raise InvalidInput(
                f"tensor {name!r}: a BYTES element of {size} bytes runs past the tensor's data"
            )
        elements.append(raw[offset : offset + size])
        offset += size
    return elements


def to_raw(array: np.ndarray, datatype: str) -> bytes:
    """The raw bytes of ``array`` as a tensor of ``datatype`` (text and objects as BYTES)."""
    flat = np.asarray(array).ravel()
    if datatype != "BYTES":
        return flat.astype(RAW_DTYPES[datatype]).tobytes()
    parts: list[bytes] = []
    for value in flat.tolist():
        data = value if isinstance(value, bytes) else str(value).encode()
        parts.append(struct.pack("<I", len(data)))
        parts.append(data)
    return b"".join(parts)
