"""Statistics of data larger than memory, built chunk by chunk with bounded memory.

Each chunk's statistics are computed exactly and merged into the running total
(:meth:`DatasetStatistics.merge`), so memory holds one chunk plus the sketches.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from evergreen.errors import InvalidInput, NotFound
from evergreen.validation.statistics import DatasetStatistics, compute_statistics

BATCH_ROWS = 65_536


def compute_statistics_chunks(chunks: Iterable[pd.DataFrame]) -> DatasetStatistics:
    """The statistics of the chunks concatenated; raise ``InvalidInput`` when there are none."""
    total: DatasetStatistics | None = None
    for chunk in chunks:
        stats = compute_statistics(chunk)
        total = stats if total is None else total.merge(stats)
    if total is None:
        raise InvalidInput("no data to summarise: the input has no chunks")
    return total


def compute_statistics_parquet(
    path: str | Path, *, batch_rows: int = BATCH_ROWS
) -> DatasetStatistics:
    """The statistics of a Parquet file, read ``batch_rows`` rows at a time.

    Raises ``NotFound`` for a missing file and ``InvalidInput`` naming the file when it is not
    readable Parquet.
    """
    if batch_rows < 1:
        raise InvalidInput(f"batch_rows must be at least 1, got {batch_rows}")
    path = Path(path)
    if not path.is_file():
        raise NotFound(f"{path}: no such file")
    try:
        parquet = pq.ParquetFile(path, pre_buffer=False)  # pre-buffering caches every batch read
        schema = parquet.schema_arrow
        if parquet.metadata.num_rows == 0:
            return compute_statistics(schema.empty_table().to_pandas())
        return compute_statistics_chunks(
            batch.to_pandas()
            for batch in parquet.iter_batches(batch_size=batch_rows, use_threads=False)
        )
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInput(f"{path}: not a readable Parquet file: {exc}") from None
