"""The index of prediction-log segments (payloads are Parquet blobs in the artifact store) and
the monitor's results time series."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from evergreen.store.artifacts import ArtifactStore
from evergreen.store.database import Database
from evergreen.store.tables import MonitorResultRow, PredictionSegmentRow


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
        self, endpoint: str, *, created_after: datetime | None = None
    ) -> list[PredictionSegmentRow]:
        """Every segment written for ``endpoint`` (all its variants' models), oldest first."""
        with self.db.session() as s:
            query = sa.select(PredictionSegmentRow).where(PredictionSegmentRow.endpoint == endpoint)
            if created_after is not None:
                query = query.where(PredictionSegmentRow.created_at > created_after)
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

    def results(self, model: str | None = None, limit: int = 500) -> list[MonitorResultRow]:
        with self.db.session() as s:
            query = sa.select(MonitorResultRow)
            if model is not None:
                query = query.where(MonitorResultRow.model == model)
            return list(s.scalars(query.order_by(MonitorResultRow.at.desc()).limit(limit)))


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
    segments that hold them). An empty frame with the fixed columns when nothing was logged."""
    segments = predictions.segments(model, version=version, created_after=created_after)
    chosen: list[PredictionSegmentRow] = []
    total = 0
    for segment in reversed(segments):
        if last_rows is not None and total >= last_rows:
            break
        chosen.append(segment)
        total += segment.rows
    frames = [_read_parquet(artifacts.get_bytes(s.artifact_sha256)) for s in reversed(chosen)]
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
    """The rows of ``segments``, verified, in order (an empty frame when there are none); with
    ``with_source``, each row also names its segment's ``model`` and ``version``."""
    tables = []
    for segment in segments:
        table = pq.read_table(pa.BufferReader(artifacts.get_bytes(segment.artifact_sha256)))
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


def _read_parquet(data: bytes) -> pd.DataFrame:
    frame: pd.DataFrame = pq.read_table(pa.BufferReader(data)).to_pandas()
    return frame
