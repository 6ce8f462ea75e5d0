"""Data validation: statistics, schemas, batch anomalies and drift, as pure functions over
pandas data frames.

Typical use: infer a schema from the training data once, then check every new batch against
it and against the training data::

    schema = infer_schema(compute_statistics(train))
    report = ValidationReport(
        anomalies=check_batch(batch, schema), drift=detect_drift(train, batch)
    )
"""

from evergreen.validation.anomalies import Anomaly as Anomaly
from evergreen.validation.anomalies import check_batch as check_batch
from evergreen.validation.chunked import compute_statistics_parquet as compute_statistics_parquet
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
