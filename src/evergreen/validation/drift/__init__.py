"""Drift tests and drift reports; see :func:`detect_drift` and :class:`DriftSpec`.

The names are imported on first use (PEP 562), so importing one light module of this
package (a spec, say) does not load SciPy and every drift test with it.
"""

import typing as _typing

from evergreen.core.lazy import lazy_exports as _lazy_exports

if _typing.TYPE_CHECKING:
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

_HOMES = {
    "ColumnDrift": "evergreen.validation.drift.base",
    "DriftReport": "evergreen.validation.drift.base",
    "DriftTest": "evergreen.validation.drift.base",
    "ChiSquareTest": "evergreen.validation.drift.chi2",
    "detect_drift": "evergreen.validation.drift.detect",
    "JensenShannonTest": "evergreen.validation.drift.jensenshannon",
    "KSTest": "evergreen.validation.drift.ks",
    "PSITest": "evergreen.validation.drift.psi",
    "select_test": "evergreen.validation.drift.selection",
    "ColumnDriftSpec": "evergreen.validation.drift.spec",
    "DriftSpec": "evergreen.validation.drift.spec",
    "DriftTracker": "evergreen.validation.drift.tracker",
    "WassersteinTest": "evergreen.validation.drift.wasserstein",
    "ZTest": "evergreen.validation.drift.z",
}


__getattr__, __dir__ = _lazy_exports(__name__, _HOMES, globals())
