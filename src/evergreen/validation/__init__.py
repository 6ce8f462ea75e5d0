"""Data validation: statistics, schemas, batch anomalies and drift, as pure functions over
pandas data frames.

Typical use: infer a schema from the training data once, then check every new batch against
it and against the training data::

    schema = infer_schema(compute_statistics(train))
    report = ValidationReport(
        anomalies=check_batch(batch, schema), drift=detect_drift(train, batch)
    )

The names are imported on first use (PEP 562), so importing one light module of this
package (a spec, say) does not load SciPy and every drift test with it.
"""

import typing as _typing

from evergreen.core.lazy import lazy_exports as _lazy_exports

if _typing.TYPE_CHECKING:
    from evergreen.validation.anomalies import Anomaly as Anomaly
    from evergreen.validation.anomalies import check_batch as check_batch
    from evergreen.validation.chunked import (
        compute_statistics_parquet as compute_statistics_parquet,
    )
    from evergreen.validation.drift import ChiSquareTest as ChiSquareTest
    from evergreen.validation.drift import ColumnDrift as ColumnDrift
    from evergreen.validation.drift import ColumnDriftSpec as ColumnDriftSpec
    from evergreen.validation.drift import DriftReport as DriftReport
    from evergreen.validation.drift import DriftSpec as DriftSpec
    from evergreen.validation.drift import DriftTest as DriftTest
    from evergreen.validation.drift import DriftTracker as DriftTracker
    from evergreen.validation.drift import KSTest as KSTest
    from evergreen.validation.drift import detect_drift as detect_drift
    from evergreen.validation.kinds import Kind as Kind
    from evergreen.validation.report import ValidationReport as ValidationReport
    from evergreen.validation.schema import ColumnSchema as ColumnSchema
    from evergreen.validation.schema import DatasetSettings as DatasetSettings
    from evergreen.validation.schema import LabelSchema as LabelSchema
    from evergreen.validation.schema import Schema as Schema
    from evergreen.validation.schema import infer_schema as infer_schema
    from evergreen.validation.statistics import ColumnStatistics as ColumnStatistics
    from evergreen.validation.statistics import DatasetStatistics as DatasetStatistics
    from evergreen.validation.statistics import compute_statistics as compute_statistics

__all__ = [
    "Anomaly",
    "ChiSquareTest",
    "ColumnDrift",
    "ColumnDriftSpec",
    "ColumnSchema",
    "ColumnStatistics",
    "DatasetSettings",
    "DatasetStatistics",
    "DriftReport",
    "DriftSpec",
    "DriftTest",
    "DriftTracker",
    "KSTest",
    "Kind",
    "LabelSchema",
    "Schema",
    "ValidationReport",
    "check_batch",
    "compute_statistics",
    "compute_statistics_parquet",
    "detect_drift",
    "infer_schema",
]

_HOMES = {
    "Anomaly": "evergreen.validation.anomalies",
    "check_batch": "evergreen.validation.anomalies",
    "compute_statistics_parquet": "evergreen.validation.chunked",
    "ChiSquareTest": "evergreen.validation.drift",
    "ColumnDrift": "evergreen.validation.drift",
    "ColumnDriftSpec": "evergreen.validation.drift",
    "DriftReport": "evergreen.validation.drift",
    "DriftSpec": "evergreen.validation.drift",
    "DriftTest": "evergreen.validation.drift",
    "DriftTracker": "evergreen.validation.drift",
    "KSTest": "evergreen.validation.drift",
    "detect_drift": "evergreen.validation.drift",
    "Kind": "evergreen.validation.kinds",
    "ValidationReport": "evergreen.validation.report",
    "ColumnSchema": "evergreen.validation.schema",
    "DatasetSettings": "evergreen.validation.schema",
    "LabelSchema": "evergreen.validation.schema",
    "Schema": "evergreen.validation.schema",
    "infer_schema": "evergreen.validation.schema",
    "ColumnStatistics": "evergreen.validation.statistics",
    "DatasetStatistics": "evergreen.validation.statistics",
    "compute_statistics": "evergreen.validation.statistics",
}


__getattr__, __dir__ = _lazy_exports(__name__, _HOMES, globals())
