"""Drift tests and drift reports; see :func:`detect_drift`."""

from evergreen.validation.drift.base import ColumnDrift as ColumnDrift
from evergreen.validation.drift.base import DriftReport as DriftReport
from evergreen.validation.drift.base import DriftTest as DriftTest
from evergreen.validation.drift.chi2 import ChiSquareTest as ChiSquareTest
from evergreen.validation.drift.detect import detect_drift as detect_drift
from evergreen.validation.drift.detect import select_test as select_test
from evergreen.validation.drift.ks import KSTest as KSTest

__all__ = [
    "ChiSquareTest",
    "ColumnDrift",
    "DriftReport",
    "DriftTest",
    "KSTest",
    "detect_drift",
    "select_test",
]
