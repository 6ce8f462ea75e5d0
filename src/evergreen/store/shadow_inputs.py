"""Shadow rows logged without their inputs, and the join that gives them back.

The gateway logs a shadow's answers without the inputs (``PredictionLogWriter.record_together``
with ``inputs_logged``): its primary logged the same rows, under the same request ids, moments
before. Such a segment carries ``INPUTS_KEY`` in its Parquet metadata; ``join_primary_inputs``
reads the primary rows of its endpoint from the segments that hold rows logged between
``SHADOW_LAG`` before its first row and its last, and gives each shadow row the inputs of the
primary row of the same request at the same place (row k of a request of several rows takes the
primary's row k). Request ids are the join key here as for labels, so a client that sets them
must keep them unique. A row whose primary cannot be found (its segment deleted) gets null
inputs; a segment none of whose rows can be found is returned as it is.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from evergreen.store.artifacts import ArtifactStore
from evergreen.store.tables import PredictionSegmentRow

if TYPE_CHECKING:
    from evergreen.store.predictions import PredictionRepository

INPUTS_KEY = b"evergreen.inputs"
INPUTS_WITH_PRIMARY = b"primary"
# A shadow answers a copy well within this of its primary (copies wait at most a second for
# their batch, and are dropped when the shadow falls behind).
SHADOW_LAG = timedelta(minutes=1)
# The columns of a gateway segment that are not inputs.
LOG_COLUMNS = (
    "request_id",
    "ts",
    "endpoint",
    "variant",
    "role",
    "latency_ms",
    "error",
    "prediction",
)


def inputs_with_primary(table: pa.Table) -> bool:
    """Whether ``table`` (a segment's rows) left its inputs to its endpoint's primary rows."""
    metadata = table.schema.metadata
    return metadata is not None and metadata.get(INPUTS_KEY) == INPUTS_WITH_PRIMARY


def segment_table(artifacts: ArtifactStore, segment: PredictionSegmentRow) -> pa.Table:
    """A segment's rows, verified, as stored."""
    return pq.read_table(pa.BufferReader(artifacts.get_bytes(segment.artifact_sha256)))


def join_primary_inputs(
    predictions: PredictionRepository,
    artifacts: ArtifactStore,
    segments: Sequence[PredictionSegmentRow],
    tables: Sequence[pa.Table | None],
) -> list[pa.Table | None]:
    """``tables`` (rows read from ``segments``, one for each, perhaps filtered, None for none),
    each one that left its inputs to the primary with them joined back; the others as they are.
    The primary rows are read once for all the tables of one endpoint."""
    out = list(tables)
    waiting: dict[str, list[int]] = {}
    for i, (segment, table) in enumerate(zip(segments, tables, strict=True)):
        if table is not None and segment.endpoint is not None and inputs_with_primary(table):
            waiting.setdefault(segment.endpoint, []).append(i)
    for endpoint, indices in waiting.items():
        ids = [request_ids(out[i]) for i in indices if out[i] is not None]
        wanted = pc.unique(pa.concat_arrays(ids))
        if len(wanted) == 0:
            continue
        start = min(segments[i].first_at for i in indices) - SHADOW_LAG
        end = max(segments[i].last_at for i in indices)
        primary = _primary_rows(predictions, artifacts, endpoint, start, end, wanted)
        if primary is None:
            continue
        for i in indices:
            table = out[i]
            if table is not None:
                out[i] = _with_inputs(table, primary)
    return out


def _primary_rows(
    predictions: PredictionRepository,
    artifacts: ArtifactStore,
    endpoint: str,
    start: datetime,
    end: datetime,
    wanted: pa.Array,
) -> pa.Table | None:
    """``request_id``, ``ts`` and the inputs of the primary rows of ``endpoint`` logged between
    ``start`` and ``end`` for the requests ``wanted``, in time order; None when there are none."""
    found: list[pa.Table] = []
    for segment in predictions.endpoint_segments(endpoint, after=start, before=end):
        table = segment_table(artifacts, segment)
        if inputs_with_primary(table):
            continue
        keep = pc.is_in(table["request_id"], value_set=wanted)
        if "role" in table.column_names:
            keep = pc.and_(keep, pc.fill_null(pc.equal(table["role"], "primary"), True))
        table = table.filter(keep)
        if table.num_rows:
            found.append(table.select(["request_id", "ts", *_inputs(table)]))
    if not found:
        return None
    rows = pa.concat_tables(found, promote_options="permissive")
    return rows.sort_by([("ts", "ascending")])


def _with_inputs(table: pa.Table, primary: pa.Table) -> pa.Table:
    """``table`` with the inputs of ``primary`` placed before ``prediction`` (at the end when it
    has none), row k of each request taking row k of that request's primary rows."""
    ids = request_ids(table)
    primary_ids = request_ids(primary)
    first = pc.index_in(ids, value_set=primary_ids).to_numpy(zero_copy_only=False)
    rows = len(ids)
    found = ~np.isnan(first) if first.dtype.kind == "f" else np.ones(rows, bool)
    position = np.zeros(rows, np.int64)
    if rows:
        # rows of one request are next to each other: each row's place within its request
        starts = np.ones(rows, bool)
        starts[1:] = pc.not_equal(ids[1:], ids[:-1]).to_numpy(zero_copy_only=False)
        run_start = np.maximum.accumulate(np.where(starts, np.arange(rows), 0))
        position = np.where(found, np.nan_to_num(first), 0).astype(np.int64)
        position += np.arange(rows) - run_start
        found &= position < len(primary_ids)
        position = np.where(found, position, 0)
        if found.any():  # the primary's row there belongs to the same request
            same = pc.equal(primary_ids.take(pa.array(position)), ids).to_numpy(
                zero_copy_only=False
            )
            found &= same
    index = pa.array(position, mask=~found)
    names = _inputs(primary)
    inputs = primary.select(names).take(index)
    columns = table.column_names
    at = columns.index("prediction") if "prediction" in columns else len(columns)
    arrays = [table[c] for c in columns[:at]] + [inputs[c] for c in names]
    arrays += [table[c] for c in columns[at:]]
    fields = [table.schema.field(c) for c in columns[:at]] + [inputs.schema.field(c) for c in names]
    fields += [table.schema.field(c) for c in columns[at:]]
    metadata = _metadata(table.schema.metadata, primary.schema.metadata, names, columns[at:])
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata=metadata))


def _metadata(
    own: dict[bytes, bytes] | None,
    primary: dict[bytes, bytes] | None,
    names: list[str],
    after: list[str],
) -> dict[bytes, bytes] | None:
    """The joined table's metadata: its own without the marker, with the primary's pandas
    description of the input columns added, so pandas gives them the same types."""
    metadata = {k: v for k, v in (own or {}).items() if k != INPUTS_KEY}
    pandas_own, pandas_primary = metadata.get(b"pandas"), (primary or {}).get(b"pandas")
    if pandas_own is None:
        return metadata or None
    if pandas_primary is None:
        del metadata[b"pandas"]
        return metadata or None
    described: dict[str, Any] = json.loads(pandas_own)
    theirs = {c.get("field_name"): c for c in json.loads(pandas_primary).get("columns", [])}
    mine = [c for c in described.get("columns", []) if c.get("field_name") not in after]
    tail = [c for c in described.get("columns", []) if c.get("field_name") in after]
    added = [theirs[name] for name in names if name in theirs]
    described["columns"] = mine + added + tail
    metadata[b"pandas"] = json.dumps(described).encode()
    return metadata


def _inputs(table: pa.Table) -> list[str]:
    return [name for name in table.column_names if name not in LOG_COLUMNS]


def request_ids(table: pa.Table) -> pa.Array:
    """A segment table's ``request_id`` column as one arrow string array (the join key)."""
    ids = table["request_id"].combine_chunks()
    return ids if ids.type == pa.string() else ids.cast(pa.string())
