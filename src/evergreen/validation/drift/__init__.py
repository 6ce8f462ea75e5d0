"""Drift tests and drift reports; see :func:`detect_drift` and :class:`DriftSpec`."""

from evergreen.validation.drift.base import ColumnDrift as ColumnDrift
from evergreen.validation.drift.base import DriftReport as DriftReport
from evergreen.validation.drift.base import DriftTest as DriftTest
from evergreen.validation.drift.chi2 import ChiSquareTest as ChiSquareTest
from evergreen.validation.drift.detect import detect_drift as detect_drift
from evergreen.validation.drift.jensenshannon import JensenShannonTest as JensenShannonTest
from evergreen.validation.drift.ks import KSTest as KSTest
from evergreen.validation.drift.psi import PSITest as PSITest
from evergreen.validation.drift.selection import select_test as select_test
from evergreen.validation.drift.spec import ColumnDriftSpec as ColumnDriftSpec
from evergreen.validation.drift.spec import DriftSpec as DriftSpec
from evergreen.validation.drift.tracker import DriftTracker as DriftTracker
from evergreen.validation.drift.wasserstein import WassersteinTest as WassersteinTest
from evergreen.validation.drift.z import ZTest as ZTest

__all__ = [
    "ChiSquareTest",
    "ColumnDrift",
    "ColumnDriftSpec",
    "DriftReport",
    "DriftSpec",
    "DriftTest",
    "DriftTracker",
    "JensenShannonTest",
    "KSTest",
    "PSITest",
    "WassersteinTest",
    "ZTest",
    "detect_drift",
    "select_test",
]
