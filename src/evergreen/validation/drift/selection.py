"""Which drift test a column gets: :func:`select_test`, the one place that decides.

``auto`` follows Evidently's DataDriftPreset default rule (``_get_default_stattest`` in
Evidently 0.7), deciding by the column's kind, the number of non-null reference values and the
number of distinct non-null values over both samples:

============================  =====================================  ========================
column                        reference of at most 1,000 values      more than 1,000 values
============================  =====================================  ========================
numeric, > 5 distinct values  ``ks`` (p < 0.05)                      ``wasserstein`` (>= 0.1)
numeric, 3-5 distinct values  ``chi2`` (p < 0.05)                    ``jensenshannon`` (>= 0.1)
categorical, > 2 values       ``chi2`` (p < 0.05)                    ``jensenshannon`` (>= 0.1)
any, at most 2 values         ``z`` (p < 0.05)                       ``jensenshannon`` (>= 0.1)
datetime                      none (skipped)                         none (skipped)
============================  =====================================  ========================

Boolean columns are categorical for this rule. Evidently's chi-square is a goodness-of-fit test
against the reference shares; ours is the contingency test (see ``chi2``), which agrees on clear
cases and keeps its false-alarm rate when both samples are small.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from evergreen.errors import InvalidInput
from evergreen.validation.drift.base import DriftTest
from evergreen.validation.drift.chi2 import ChiSquareTest
from evergreen.validation.drift.jensenshannon import JensenShannonTest
from evergreen.validation.drift.ks import KSTest
from evergreen.validation.drift.psi import PSITest
from evergreen.validation.drift.wasserstein import WassersteinTest
from evergreen.validation.drift.z import ZTest
from evergreen.validation.kinds import Kind

Method = Literal["auto", "ks", "chi2", "z", "wasserstein", "jensenshannon", "psi"]

TESTS: dict[str, type[DriftTest]] = {
    test.name: test
    for test in (KSTest, ChiSquareTest, ZTest, WassersteinTest, JensenShannonTest, PSITest)
}
P_VALUE_TESTS = frozenset({"ks", "chi2", "z"})
NUMERIC_ONLY_TESTS = frozenset({"ks", "wasserstein"})
SMALL_SAMPLE_ROWS = 1_000
"""The largest reference (non-null values) that still gets a hypothesis test under ``auto``."""
FEW_VALUES = 5
"""Numeric columns with at most this many distinct values are treated as categories."""
DISTANCE_THRESHOLD = 0.1


def select_test(
    kind: Kind,
    p_threshold: float = 0.05,
    *,
    reference_rows: int | None = None,
    n_values: int | None = None,
    method: Method = "auto",
    threshold: float | None = None,
) -> DriftTest | None:
    """The drift test for a column of ``kind``, or ``None`` for datetime columns.

    ``method`` forces a test by name; ``auto`` applies the rule above, where an unknown
    ``reference_rows`` counts as small and unknown ``n_values`` as many (two for booleans).
    ``threshold`` overrides the test's own: ``p_threshold`` for hypothesis tests, 0.1 for
    distances. Raises ``InvalidInput`` for a numeric-only test on a non-numeric kind.
    """
    if kind == "datetime":
        return None
    name = auto_method(kind, reference_rows, n_values) if method == "auto" else method
    if name not in TESTS:
        raise InvalidInput(f"unknown drift method {name!r}; use 'auto' or one of {sorted(TESTS)}")
    if name in NUMERIC_ONLY_TESTS and kind != "numeric":
        raise InvalidInput(
            f"the {name} test needs a numeric column, not a {kind} one; "
            "use chi2, z, jensenshannon or psi"
        )
    if threshold is None:
        threshold = p_threshold if name in P_VALUE_TESTS else DISTANCE_THRESHOLD
    return TESTS[name](threshold)  # type: ignore[call-arg]


def auto_method(kind: Kind, reference_rows: int | None, n_values: int | None) -> str:
    """The name of the test ``auto`` picks (see the module docs)."""
    if n_values is None:
        n_values = 2 if kind == "boolean" else FEW_VALUES + 1
    small = reference_rows is None or reference_rows <= SMALL_SAMPLE_ROWS
    if kind == "numeric" and n_values > FEW_VALUES:
        return "ks" if small else "wasserstein"
    if not small:
        return "jensenshannon"
    return "chi2" if n_values > 2 else "z"


def distinct_values(reference: np.ndarray, current: np.ndarray) -> int:
    """The number of distinct values over both samples, as far as ``auto`` needs it.

    The rule only asks whether there are more than 2 or more than 5, so when the first few
    thousand values of each side already hold more than 5, that count (a lower bound) is
    returned without hashing (or even copying) the rest, which keeps million-row columns cheap.
    """
    head = pd.unique(np.concatenate([reference[:_HEAD], current[:_HEAD]])).size
    if head > FEW_VALUES:
        return int(head)
    return int(pd.unique(np.concatenate([reference, current])).size)


_HEAD = 4_096
