from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from evergreen.validation.anomalies import Anomaly
from evergreen.validation.drift import ColumnDrift, DriftReport, detect_drift
from evergreen.validation.report import ValidationReport

ERROR = Anomaly(
    check="missing_column",
    column="weather",
    severity="error",
    message="column 'weather' is required by the schema but missing from the batch",
)
WARNING = Anomaly(
    check="out_of_range",
    column="temp",
    severity="warning",
    message="column 'temp': 12.0% of values outside [0.02, 0.86] (min 0.01, max 0.95)",
    observed=0.12,
    details={"min": 0.01, "max": 0.95},
)
DRIFT = DriftReport(
    columns=[
        ColumnDrift.from_p_value("cnt", "ks", 0.4, 1e-9, 0.05),
        ColumnDrift.from_p_value("temp", "ks", 0.05, 0.6, 0.05),
        ColumnDrift.skip("note", "chi2", 0.05, "no non-null values in the current data"),
    ],
    share_threshold=0.5,
)


@pytest.mark.parametrize(
    ("anomalies", "passed"),
    [([], True), ([WARNING], True), ([WARNING, ERROR], False)],
    ids=["clean", "warnings-only", "with-an-error"],
)
def test_passed_means_no_error(anomalies: list[Anomaly], passed: bool) -> None:
    report = ValidationReport(anomalies=anomalies, drift=DRIFT)
    assert report.passed is passed
    assert report.errors == [a for a in anomalies if a is ERROR]
    assert report.warnings == [a for a in anomalies if a is WARNING]


def test_summary_has_a_line_per_anomaly_and_the_drift() -> None:
    report = ValidationReport(anomalies=[ERROR, WARNING], drift=DRIFT)
    assert report.summary().splitlines() == [
        "validation FAILED: 1 error, 1 warning",
        "  error   missing_column: column 'weather' is required by the schema but missing "
        "from the batch",
        "  warning out_of_range: column 'temp': 12.0% of values outside [0.02, 0.86] "
        "(min 0.01, max 0.95)",
        "drift: 1 of 2 tested columns drifted (50%; dataset drift at 50%: yes): cnt; skipped note",
    ]


def test_summary_without_drift() -> None:
    assert ValidationReport(anomalies=[]).summary().splitlines() == [
        "validation passed: 0 errors, 0 warnings",
        "drift: not checked",
    ]


def test_to_dict_is_json_and_round_trips() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=50), "c": rng.choice(["a", "b"], 50)})
    report = ValidationReport(anomalies=[ERROR, WARNING], drift=detect_drift(frame, frame))
    data = json.loads(json.dumps(report.to_dict()))
    assert data["passed"] is False
    assert data["drift"]["dataset_drift"] is False
    assert ValidationReport.from_dict(data) == report
