"""A monitor pass over a real prediction log of the example project's production model."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from evergreen import bootstrap
from evergreen.bootstrap import Context
from evergreen.cli.context import context as cli_context
from evergreen.cli.main import app
from evergreen.monitoring.monitor import Monitor
from evergreen.pipeline.monitors import MonitorSpec
from evergreen.pipeline.project import Project
from evergreen.serving import PredictionLogWriter

REQUEST_ROWS = 24


@pytest.fixture
def trained(context: Context, project: Project, hourly: pd.DataFrame, landing: Path) -> int:
    """Version 1 in production, trained on the first eight weeks (winter)."""
    hourly.iloc[: 24 * 7 * 8].to_csv(landing / "week-000.csv", index=False)
    result = bootstrap.pipeline_runner(context).run(project)
    assert result.promoted, result.error
    return result.model_version or 0


@pytest.fixture
def monitor(context: Context) -> Monitor:
    return Monitor(
        context.registry, context.predictions, context.artifacts, context.events, context.clock
    )


def serve(context: Context, project: Project, rows: pd.DataFrame, version: int) -> pd.DataFrame:
    """Log the model's real answers to ``rows`` (requests of 24 rows); returns the prepared
    rows with their ``cnt`` truth and ``request_id``."""
    model = context.registry.load(project.name, version)
    prepared = project.prepared(rows).reset_index(drop=True)
    features = prepared.drop(columns=["cnt"])
    writer = PredictionLogWriter(context.artifacts, context.predictions, flush_interval=60)
    ids = []
    for start in range(0, len(features), REQUEST_ROWS):
        chunk = features.iloc[start : start + REQUEST_ROWS].reset_index(drop=True)
        writer.record(project.name, version, f"req-{start}", chunk, model.predict(chunk))
        ids += [f"req-{start}"] * len(chunk)
    writer.close()
    return prepared.assign(request_id=ids, prediction=model.predict(features))


def label(context: Context, served: pd.DataFrame) -> None:
    """Send each request's labels, one per row, as the feedback API stores them."""
    context.feedback.add(
        [(rid, group["cnt"].tolist()) for rid, group in served.groupby("request_id", sort=False)],
        datetime.now(UTC),
    )


def test_labels_that_arrive_late_give_performance_on_the_next_pass(
    monitor: Monitor, context: Context, project: Project, hourly: pd.DataFrame, trained: int
) -> None:
    served = serve(context, project, hourly[hourly["mnth"] == 7].iloc[:672], trained)

    first = monitor.check(project)
    assert first is not None and first.rows == 672 and first.labelled == 0
    assert first.performance == {} and "waiting for 50 labelled rows (have 0)" in first.note
    assert not any(r.kind.startswith("detector.") for r in first.results)
    # summer inputs drift from the winter training data: series and one drift event
    assert first.drift is not None and first.drift.dataset_drift and first.event is not None
    assert first.value("input_drift") == pytest.approx(first.drift.drift_share)
    for column in first.drift.columns:
        value = first.value("input_drift.feature", column.column)
        assert value == (column.p_value if column.p_value is not None else column.statistic)
    temp = next(r for r in first.results if r.feature == "temp")
    assert temp.details["value_is"] in ("p_value", "statistic") and temp.details["drifted"]
    assert first.value("prediction_drift") is not None and first.value("data_quality") is not None
    assert all(
        r.window_start == first.window_start and r.window_end == first.window_end
        for r in first.results
    )
    assert first.window_start is not None and first.window_end is not None

    label(context, served)
    second = monitor.check(project)
    assert second is not None and second.labelled == 672 and second.note == ""
    truth, predicted = served["cnt"].to_numpy(float), served["prediction"].to_numpy(float)
    assert second.performance["rmse"] == pytest.approx(np.sqrt(np.mean((truth - predicted) ** 2)))
    assert second.performance["mae"] == pytest.approx(np.mean(np.abs(truth - predicted)))
    rmse = next(r for r in second.results if r.kind == "performance.rmse")
    assert rmse.rows == 672
    fed = {r.kind: r.details["fed"] for r in second.results if r.kind.startswith("detector.")}
    assert fed == {"detector.page_hinkley": 672, "detector.adwin": 672}

    third = monitor.check(project)  # no new labels: the detectors see nothing again
    assert third is not None
    detectors = [r for r in third.results if r.kind.startswith("detector.")]
    assert [(r.value, r.details["fed"]) for r in detectors] == [(0.0, 0), (0.0, 0)]
    assert third.performance["rmse"] == pytest.approx(second.performance["rmse"])


def test_series_queries(
    monitor: Monitor, context: Context, project: Project, hourly: pd.DataFrame, trained: int
) -> None:
    served = serve(context, project, hourly.iloc[2000:2700], trained)
    label(context, served)
    passes = [monitor.check(project) for _ in range(3)]
    assert all(p is not None for p in passes)
    store = context.predictions
    performance = store.series(project.name, kind_prefix="performance.")
    assert sorted({r.kind for r in performance}) == [
        "performance.mae",
        "performance.r2",
        "performance.rmse",
    ]
    assert len(performance) == 9
    narrower = store.series(project.name, kind_prefix="performance.r")
    assert sorted({r.kind for r in narrower}) == ["performance.r2", "performance.rmse"]
    temp = store.series(project.name, kind="input_drift.feature", feature="temp")
    assert len(temp) == 3 and [r.at for r in temp] == sorted(r.at for r in temp)
    assert len(store.series(project.name, kind="input_drift", limit=2)) == 2
    assert store.series(project.name, kind="input_drift", version=trained + 1) == []
    last = passes[-1]
    assert last is not None
    recent = store.series(project.name, since=last.results[0].at)
    assert {r.id for r in recent} == {r.id for r in last.results}
    latest = store.latest_series(project.name)
    assert len(latest) == len(last.results)
    assert {r.id for r in latest} == {r.id for r in last.results}


@pytest.fixture
def cli(context: Context, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("EVERGREEN_HOME", str(context.settings.home))
    cli_context.cache_clear()
    yield CliRunner()
    cli_context().close()
    cli_context.cache_clear()


def test_cli_run_status_and_report(
    cli: CliRunner,
    context: Context,
    project: Project,
    hourly: pd.DataFrame,
    trained: int,
    tmp_path: Path,
) -> None:
    served = serve(context, project, hourly[hourly["mnth"] == 7].iloc[:672], trained)
    label(context, served)
    project_file = project.file or Path("examples/bike_project.py")

    ran = cli.invoke(app, ["monitor", "run", "--project", str(project_file)])
    assert ran.exit_code == 0, ran.output
    assert "bike-demand v1: 672 row(s) in the window, 672 labelled" in ran.output
    assert "performance.rmse" in ran.output and "drift event" in ran.output

    status = cli.invoke(app, ["monitor", "status", "--model", "bike-demand", "--json"])
    assert status.exit_code == 0, status.output

    rows = json.loads(status.output)
    kinds = {(r["kind"], r["feature"]) for r in rows}
    assert ("performance.rmse", None) in kinds and ("input_drift.feature", "temp") in kinds
    assert all(r["version"] == trained and r["window_start"] for r in rows)
    table = cli.invoke(app, ["monitor", "status"])
    assert table.exit_code == 0 and "prediction_drift" in table.output

    out = tmp_path / "report.html"
    report = cli.invoke(
        app, ["monitor", "report", "--model", "bike-demand", "--out", str(out), "--since", "1d"]
    )
    assert report.exit_code == 0, report.output
    page = out.read_text()
    assert page.count("<svg") == len(kinds) and f"{len(kinds)} series" in report.output
    assert re.search(r"<h2>input_drift\.feature\[temp\]</h2>", page)
    bad = cli.invoke(app, ["monitor", "report", "--model", "bike-demand", "--since", "soon"])
    assert bad.exit_code == 2 and "--since" in bad.output


def test_report_draws_alert_thresholds_and_version_changes() -> None:
    from evergreen.monitoring.report import render_report
    from evergreen.pipeline.alerting import AlertRule
    from evergreen.store.tables import MonitorResultRow

    at = datetime(2026, 5, 1, tzinfo=UTC)
    rows = [
        MonitorResultRow(
            id=f"mon-{n}",
            at=at.replace(hour=n),
            model="m",
            version=1 if n < 3 else 2,
            kind="performance.rmse",
            value=float(n),
            rows=100,
            details={},
            feature=None,
        )
        for n in range(6)
    ]
    rule = AlertRule(name="rmse-high", series="performance.rmse", above=4.5)
    page = render_report("m", rows, rules=[rule, AlertRule(name="x", series="other", below=1)])
    assert page.count("<svg") == 1 and page.count("<polyline") == 2
    assert "<title>rmse-high: 4.5</title>" in page and "<title>x:" not in page
    assert ">v2</text>" in page and "latest 5 on 100 row(s) of v2" in page


def test_a_classifiers_roc_auc_and_log_loss_come_from_its_class_scores(
    monitor: Monitor, context: Context, hourly: pd.DataFrame, landing: Path
) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import log_loss, roc_auc_score

    features = ["season", "hr", "workingday", "weathersit", "temp", "hum"]
    busy = hourly.assign(busy=(hourly["cnt"] > hourly["cnt"].median()).astype(int))
    busy[[*features, "busy"]].iloc[:3000].to_csv(landing / "a.csv", index=False)
    project = Project(
        name="busy-hours",
        source=str(landing),
        target="busy",
        task="classification",
        model=lambda: HistGradientBoostingClassifier(max_iter=30, random_state=0),
        monitors=MonitorSpec(window_rows=600),  # the default: the drift policy's 500
    )
    result = bootstrap.pipeline_runner(context).run(project)
    assert result.promoted, result.error
    model = context.registry.load(project.name, result.model_version or 0)
    rows = busy.iloc[3000:3600].reset_index(drop=True)
    writer = PredictionLogWriter(context.artifacts, context.predictions, flush_interval=60)
    for start in range(0, len(rows), 50):
        chunk = rows.iloc[start : start + 50][features].reset_index(drop=True)
        writer.record(project.name, model.version, f"q-{start}", chunk, model.predict(chunk))
    writer.close()
    context.feedback.add(
        [(f"q-{s}", rows["busy"].iloc[s : s + 50].tolist()) for s in range(0, len(rows), 50)],
        datetime.now(UTC),
    )

    outcome = monitor.check(project)
    assert outcome is not None and outcome.labelled == 600
    proba = model.model.predict_proba(rows[features])
    assert outcome.performance["roc_auc"] == pytest.approx(roc_auc_score(rows["busy"], proba[:, 1]))
    assert outcome.performance["log_loss"] == pytest.approx(log_loss(rows["busy"], proba))
    assert "roc_auc" not in outcome.unavailable


def test_a_label_for_an_unknown_request_waits_for_its_prediction(
    monitor: Monitor, context: Context, project: Project, hourly: pd.DataFrame, trained: int
) -> None:
    rows = hourly[hourly["mnth"] == 3].iloc[:672]
    prepared = project.prepared(rows).reset_index(drop=True)
    # labels first: no prediction carries these ids yet (a client sent them early, or wrong)
    label(context, prepared.assign(request_id=[f"req-{24 * (i // 24)}" for i in range(672)]))
    label(context, pd.DataFrame({"request_id": ["never-served"], "cnt": [1.0]}))
    early = monitor.check(project)
    assert early is not None and (early.rows, early.labelled, early.performance) == (0, 0, {})

    serve(context, project, rows, trained)  # the predictions with those ids are logged later
    outcome = monitor.check(project)
    assert outcome is not None and outcome.labelled == 672  # joined; the stray label is ignored
    assert outcome.performance["rmse"] > 0
