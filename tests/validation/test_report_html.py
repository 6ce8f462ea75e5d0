"""`ValidationReport.to_html`: a self-contained page with a plot per drifted column."""

from __future__ import annotations

from html.parser import HTMLParser

import pandas as pd

from evergreen.validation.anomalies import Anomaly
from evergreen.validation.drift import detect_drift
from evergreen.validation.report import ValidationReport
from evergreen.validation.statistics import compute_statistics

VOID = {"meta", "br", "img", "input", "link", "hr", "rect", "line"}


class _Balance(HTMLParser):
    """Checks that every opened element is closed, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        pass

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID and (not self.stack or self.stack[-1] != tag):
            return
        if not self.stack or self.stack.pop() != tag:
            self.problems.append(tag)


def test_html_has_the_tables_and_a_plot_per_drifted_column(bike_sharing: pd.DataFrame) -> None:
    reference = bike_sharing[bike_sharing["yr"] == 0]
    current = bike_sharing[bike_sharing["yr"] == 1]
    drift = detect_drift(reference, current)
    assert drift.drifted_columns
    anomaly = Anomaly(
        check="out_of_range",
        column="cnt",
        severity="error",
        message="column 'cnt': <b>48%</b> outside",
        observed=0.48,
    )
    report = ValidationReport(anomalies=[anomaly], drift=drift)

    page = report.to_html(compute_statistics(reference), current)

    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<svg") == len(drift.drifted_columns)
    assert "&lt;b&gt;48%&lt;/b&gt;" in page  # messages are escaped
    assert "validation FAILED" in page
    for name in drift.drifted_columns:
        assert f"<figcaption>{name}: reference vs current" in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "<script" not in page
    checker = _Balance()
    checker.feed(page)
    assert (checker.problems, checker.stack) == ([], [])


def test_html_without_data_has_tables_only() -> None:
    page = ValidationReport(anomalies=[], drift=None).to_html()
    assert "No anomalies." in page and "Drift was not checked." in page
    assert "<svg" not in page
