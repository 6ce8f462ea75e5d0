"""The archive the XGBoost, LightGBM and PyTorch flavors write: a zip holding ``header.json``
(what rebuilds the estimator: its class, parameters, classes, columns) beside the library's own
model file. Entries are sorted, stored uncompressed and dated 1980-01-01, so the same model
always gives the same bytes (and the same sha256).
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import numpy as np

from evergreen.errors import IntegrityFailure

HEADER = "header.json"


def pack(header: dict[str, Any], files: dict[str, bytes]) -> bytes:
    entries = {HEADER: json.dumps(header, sort_keys=True).encode(), **files}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for name in sorted(entries):
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), entries[name])
    return out.getvalue()


def unpack(data: bytes, flavor: str, names: tuple[str, ...]) -> tuple[dict[str, Any], list[bytes]]:
    """The header and the named files; IntegrityFailure when the archive is not one of
    ``flavor``'s."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            header = json.loads(archive.read(HEADER))
            files = [archive.read(name) for name in names]
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise IntegrityFailure(f"not a {flavor} model archive: {exc}") from None
    if not isinstance(header, dict) or header.get("flavor") != flavor:
        raise IntegrityFailure(f"not a {flavor} model archive (header names another flavor)")
    return header, files


def classes_to_json(classes: np.ndarray) -> dict[str, Any]:
    """A classifier's ``classes_`` with its dtype, so that labels come back as they went in."""
    dtype = "object" if classes.dtype == object else classes.dtype.str
    return {
        "values": [v.item() if isinstance(v, np.generic) else v for v in classes],
        "dtype": dtype,
    }


def classes_from_json(data: dict[str, Any]) -> np.ndarray:
    return np.asarray(data["values"], dtype=np.dtype(data["dtype"]))
