"""The index of prediction-log segments (payloads are Parquet blobs in the artifact store), the
monitors' results time series, and the bulk read of feedback labels the monitors join.

A series is one (model, version, kind, feature) of ``monitor_results``; ``feature`` is None for
whole-model series. ``kind`` names what is measured (``input_drift``, ``input_drift.feature``,
``prediction_drift``, ``data_quality``, ``performance.<metric>``, ``detector.<name>``; see
``evergreen.monitoring.monitor``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from evergreen.errors import InvalidState
from evergreen.store.artifacts import ArtifactStore
from evergreen.store.database import Database
from evergreen.store.shadow_inputs import join_primary_inputs, segment_table
from evergreen.store.tables import FeedbackRow, MonitorResultRow, PredictionSegmentRow


@dataclass(frozen=True)
class Labels:
    """Feedback labels of some requests, in no particular order: ``label`` float64 when every
    label is a number (else objects), ``at`` when each arrived (UTC, ``datetime64[us]``)."""

    request_id: pa.Array
    label: np.ndarray
    at: np.ndarray

    def __len__(self) -> int:
        return len(self.request_id)

    @classmethod
    def empty(cls) -> Labels:
        return cls(
            pa.array([], pa.string()),
            np.empty(0, dtype=np.float64),
            np.empty(0, dtype="datetime64[us]"),
        )


class PredictionRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add_segment(self, row: PredictionSegmentRow) -> None:
        with self.db.session() as s:
            s.add(row)

    def segments(
        self,
        model: str,
        *,
        version: int | None = None,
        after: datetime | None = None,
        created_after: datetime | None = None,
    ) -> list[PredictionSegmentRow]:
        with self.db.session() as s:
            query = sa.select(PredictionSegmentRow).where(PredictionSegmentRow.model == model)
            if version is not None:
                query = query.where(PredictionSegmentRow.version == version)
            if after is not None:
                query = query.where(PredictionSegmentRow.last_at > after)
            if created_after is not None:
                query = query.where(PredictionSegmentRow.created_at > created_after)
            return list(s.scalars(query.order_by(PredictionSegmentRow.created_at)))

    def endpoint_segments(
        self,
        endpoint: str,
        *,
        created_after: datetime | None = None,
        after: datetime | None = None,
        before: datetime | None = None,
    ) -> list[PredictionSegmentRow]:
        """Every segment written for ``endpoint`` (all its variants' models), oldest first; with
        ``after``/``before``, those with rows logged in that time range."""
        with self.db.session() as s:
            query = sa.select(PredictionSegmentRow).where(PredictionSegmentRow.endpoint == endpoint)
            if created_after is not None:
                query = query.where(PredictionSegmentRow.created_at > created_after)
            if after is not None:
                query = query.where(PredictionSegmentRow.last_at >= after)
            if before is not None:
                query = query.where(PredictionSegmentRow.first_at <= before)
            return list(s.scalars(query.order_by(PredictionSegmentRow.created_at)))

    def add_result(self, row: MonitorResultRow) -> None:
        with self.db.session() as s:
            s.add(row)

    def latest_result(self, model: str, version: int, kind: str) -> MonitorResultRow | None:
        """The newest monitor result of one kind for a model version."""
        with self.db.session() as s:
            query = (
                sa.select(MonitorResultRow)
                .where(
                    MonitorResultRow.model == model,
                    MonitorResultRow.version == version,
                    MonitorResultRow.kind == kind,
                )
                .order_by(MonitorResultRow.at.desc(), MonitorResultRow.id.desc())
                .limit(1)
            )
            return s.scalars(query).first()

    def add_results(self, rows: Sequence[MonitorResultRow]) -> None:
        """Store one pass's results together (one transaction)."""
        with self.db.session() as s:
            s.add_all(rows)

    def results(self, model: str | None = None, limit: int = 500) -> list[MonitorResultRow]:
        with self.db.session() as s:
            query = sa.select(MonitorResultRow)
            if model is not None:
                query = query.where(MonitorResultRow.model == model)
            return list(s.scalars(query.order_by(MonitorResultRow.at.desc()).limit(limit)))

    def series(
        self,
        model: str,
        *,
        kind: str | None = None,
        kind_prefix: str | None = None,
        feature: str | None = None,
        version: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[MonitorResultRow]:
        """Results of ``model``, oldest first: of one ``kind`` or of every kind starting with
        ``kind_prefix`` (``performance.``), one ``feature``, one ``version``, with ``since <=
        at <= until``; with ``limit``, only the newest ``limit`` of them (still oldest first).
        The (model, kind, at) index serves these."""
        query = sa.select(MonitorResultRow).where(MonitorResultRow.model == model)
        if kind is not None:
            query = query.where(MonitorResultRow.kind == kind)
        if kind_prefix is not None:
            # a range on the indexed column rather than LIKE, whose wildcards '_' and '%'
            # would need escaping and which SQLite's index does not serve
            query = query.where(
                MonitorResultRow.kind >= kind_prefix, MonitorResultRow.kind < kind_prefix + "\uffff"
            )
        if feature is not None:
            query = query.where(MonitorResultRow.feature == feature)
        if version is not None:
            query = query.where(MonitorResultRow.version == version)
        if since is not None:
            query = query.where(MonitorResultRow.at >= since)
        if until is not None:
            query = query.where(MonitorResultRow.at <= until)
        query = query.order_by(MonitorResultRow.at.desc(), MonitorResultRow.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self.db.session() as s:
            return list(reversed(list(s.scalars(query))))

    def latest_series(self, model: str | None = None) -> list[MonitorResultRow]:
        """The newest result of every series (model, version, kind, feature), ordered by model,
        version, kind and feature."""
        rank = (
            sa.func.row_number()
            .over(
                partition_by=(
                    MonitorResultRow.model,
                    MonitorResultRow.version,
                    MonitorResultRow.kind,
                    MonitorResultRow.feature,
                ),
                order_by=(MonitorResultRow.at.desc(), MonitorResultRow.id.desc()),
            )
            .label("rank")
        )
        inner = sa.select(MonitorResultRow.id, rank)
        if model is not None:
            inner = inner.where(MonitorResultRow.model == model)
        ranked = inner.subquery()
        query = (
            sa.select(MonitorResultRow)
            .join(ranked, ranked.c.id == MonitorResultRow.id)
            .where(ranked.c.rank == 1)
            .order_by(
                MonitorResultRow.model,
                MonitorResultRow.version,
                MonitorResultRow.kind,
                MonitorResultRow.feature,
            )
        )
        with self.db.session() as s:
            return list(s.scalars(query))

    def labels(self, request_ids: pa.Array | Sequence[str]) -> Labels:
        """The feedback labels of ``request_ids`` with their arrival times, read in bulk.

        The monitors join a whole window at once (``FeedbackRepository.labels`` serves a
        handful of ids): the ids travel as one parameter (a JSON array that SQLite's
        ``json_each`` unpacks, a PostgreSQL array) and each column comes back as one JSON
        array (``json_group_array``, ``json_agg``), so no row becomes a Python object. The
        database does its part without holding the GIL, so a caller may run this in a thread
        while it computes something else."""
        ids = request_ids if isinstance(request_ids, pa.Array) else pa.array(request_ids)
        if len(ids) == 0:
            return Labels.empty()
        table = FeedbackRow.__table__
        dialect = self.db.engine.dialect.name
        if dialect == "sqlite" and not pc.any(pc.match_substring(ids, SEPARATOR)).as_py():
            return self._sqlite_labels(ids)
        if dialect == "sqlite":
            unpacked = _unpacked()
            query = sa.select(
                sa.func.json_group_array(table.c.request_id),
                sa.func.json_group_array(table.c.label),  # numbers, or JSON texts
                sa.func.json_group_array(table.c.at),
            ).select_from(unpacked.join(table, table.c.request_id == unpacked.c.value))
            params: dict[str, Any] = {"ids": _json_array(ids)}
        elif dialect == "postgresql":
            listed = sa.bindparam("ids", type_=postgresql.ARRAY(sa.String))
            query = sa.select(
                sa.func.json_agg(table.c.request_id),
                sa.func.json_agg(table.c.label),
                sa.func.json_agg(table.c.at),
            ).where(table.c.request_id == sa.any_(listed))
            params = {"ids": ids.to_pylist()}
        else:
            raise InvalidState(f"reading labels in bulk is not written for {dialect}")
        with self.db.reading() as connection:
            row = connection.execute(query, params).one()
        found, labels, times = (json.loads(v) if isinstance(v, str) else v for v in row)
        if not found:
            return Labels.empty()
        at = pa.array(times, pa.string()).cast(pa.timestamp("us"))
        return Labels(
            pa.array(found, pa.string()),
            _json_values(labels) if dialect == "sqlite" else _values(labels),
            at.to_numpy(zero_copy_only=False),
        )

    def _sqlite_labels(self, ids: pa.Array) -> Labels:
        """SQLite, ids free of the separator: each column comes back as one string joined by
        ``SEPARATOR`` (JSON texts escape control characters, times are ISO texts), split and
        converted by arrow without a Python object per label when the labels are numbers."""
        table = FeedbackRow.__table__
        unpacked = _unpacked()
        query = sa.select(
            sa.func.count(),
            sa.func.group_concat(table.c.request_id, SEPARATOR),
            sa.func.group_concat(sa.func.coalesce(table.c.label, "null"), SEPARATOR),
            sa.func.group_concat(table.c.at, SEPARATOR),
        ).select_from(unpacked.join(table, table.c.request_id == unpacked.c.value))
        with self.db.reading() as connection:
            count, found, labels, times = connection.execute(query, {"ids": _json_array(ids)}).one()
        if not count:
            return Labels.empty()
        texts = _split(labels)
        try:
            values = np.asarray(
                texts.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            values = _values([json.loads(t) for t in texts.to_pylist()])
        return Labels(
            _split(found),
            values,
            _split(times).cast(pa.timestamp("us")).to_numpy(zero_copy_only=False),
        )


SEPARATOR = "\x1f"  # the ASCII unit separator: JSON escapes it, times and usual ids lack it


def _unpacked() -> Any:
    """The ``ids`` parameter (a JSON array) as a table of ``value`` s, for SQLite."""
    return (
        sa.func.json_each(sa.bindparam("ids", type_=sa.Text)).table_valued("value").alias("wanted")
    )


def _split(joined: str) -> pa.Array:
    return pc.split_pattern(pa.array([joined], pa.string()), SEPARATOR).flatten()


def _json_array(ids: pa.Array) -> str:
    """``ids`` as a JSON array: joined directly when no id needs escaping (the usual case),
    else through ``json.dumps``."""
    strings = ids.cast(pa.string())
    plain = not pc.any(pc.match_substring_regex(strings, r'["\\\x00-\x1f]')).as_py()
    if strings.null_count == 0 and plain:
        return '["' + '","'.join(strings.to_pylist()) + '"]'
    return json.dumps(strings.to_pylist())


def _json_values(items: list[Any]) -> np.ndarray:
    """Labels as SQLite returns them: the JSON column's numeric affinity turns a number's JSON
    text into that number; anything else (a string, a list) stays JSON text to decode."""
    return _values([json.loads(v) if isinstance(v, str) else v for v in items])


def _values(labels: list[Any]) -> np.ndarray:
    """Labels as float64 when every one is a number, else as an object array (one item per
    label: a list label stays one item)."""
    if all(type(v) in (int, float) for v in labels):
        return np.asarray(labels, dtype=np.float64)
    out = np.empty(len(labels), dtype=object)
    for i, value in enumerate(labels):
        out[i] = value
    return out


def read_predictions(
    predictions: PredictionRepository,
    artifacts: ArtifactStore,
    model: str,
    *,
    version: int | None = None,
    created_after: datetime | None = None,
    last_rows: int | None = None,
) -> pd.DataFrame:
    """Logged predictions of ``model`` (optionally one version, or segments written after a
    time), oldest first, verified; with ``last_rows`` only the newest rows (reading only the
    segments that hold them). An empty frame with the fixed columns when nothing was logged.
    Shadow rows logged without their inputs get them from their primary's (``shadow_inputs``)."""
    segments = predictions.segments(model, version=version, created_after=created_after)
    chosen: list[PredictionSegmentRow] = []
    total = 0
    for segment in reversed(segments):
        if last_rows is not None and total >= last_rows:
            break
        chosen.append(segment)
        total += segment.rows
    chosen.reverse()
    tables = [segment_table(artifacts, segment) for segment in chosen]
    joined = join_primary_inputs(predictions, artifacts, chosen, tables)
    frames: list[pd.DataFrame] = [table.to_pandas() for table in joined if table is not None]
    if not frames:
        return pd.DataFrame(
            {
                "request_id": pd.Series(dtype="string"),
                "ts": pd.Series(dtype="datetime64[us, UTC]"),
                "prediction": pd.Series(dtype="float64"),
            }
        )
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return frame.tail(last_rows).reset_index(drop=True) if last_rows is not None else frame


def read_segments(
    artifacts: ArtifactStore, segments: list[PredictionSegmentRow], *, with_source: bool = False
) -> pd.DataFrame:
    """The rows of ``segments`` as stored, verified, in order (an empty frame when there are
    none): shadow rows the gateway logged have no inputs here (``read_predictions`` joins them);
    with ``with_source``, each row also names its segment's ``model`` and ``version``."""
    tables = []
    for segment in segments:
        table = segment_table(artifacts, segment)
        if with_source:
            rows = table.num_rows
            table = table.append_column("model", pa.array([segment.model] * rows, pa.string()))
            table = table.append_column("version", pa.array([segment.version] * rows, pa.int64()))
        tables.append(table)
    if not tables:
        return pd.DataFrame()
    # segments of different versions may differ in a column's type (all-null predictions of
    # failed requests): arrow promotes them, where pandas would warn
    frame: pd.DataFrame = pa.concat_tables(tables, promote_options="permissive").to_pandas()
    return frame
