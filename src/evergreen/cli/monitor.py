"""`evergreen monitor ...`: the monitors' time series of production models.

``status`` prints the latest value of every series, ``report`` writes them as a self-contained
HTML page of line plots, ``run`` does one monitor pass of a project now.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from evergreen.cli.context import context
from evergreen.cli.output import JsonFlag, console, fail, handle_errors, print_json, print_table

app = typer.Typer(
    help="Monitor series of production models: drift, quality, performance, detectors.",
    no_args_is_help=True,
)

ProjectFile = Annotated[
    Path, typer.Option("--project", "-p", help="Project file defining `project = eg.Project(...)`.")
]


def _row(row: Any) -> dict[str, Any]:
    return {
        "model": row.model,
        "version": row.version,
        "kind": row.kind,
        "feature": row.feature,
        "value": row.value,
        "rows": row.rows,
        "at": row.at.isoformat(),
        "window_start": row.window_start.isoformat() if row.window_start else None,
        "window_end": row.window_end.isoformat() if row.window_end else None,
    }


@app.command("status")
@handle_errors
def status(
    model: Annotated[str | None, typer.Option("--model", "-m", help="Only this model.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """The latest value of each series, per model and version."""
    rows = [_row(r) for r in context().predictions.latest_series(model)]
    if json_out:
        print_json(rows)
        return
    if not rows:
        console.print(
            "no monitor results yet; `evergreen monitor run --project FILE` does a pass now",
            highlight=False,
        )
        return
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["model"], r["version"]), []).append(r)
    for (name, version), series in groups.items():
        window = _window(series[0])
        print_table(
            f"{name} v{version}: latest value of each series"
            + (f" (window {window})" if window else ""),
            ["series", "feature", "value", "rows", "at"],
            [
                [r["kind"], r["feature"] or "", f"{r['value']:.6g}", r["rows"], r["at"][:19]]
                for r in series
            ],
        )


def _window(row: dict[str, Any]) -> str:
    start, end = row["window_start"], row["window_end"]
    return f"{start[:19]} .. {end[:19]}" if start and end else ""


@app.command("report")
@handle_errors
def report(
    model: Annotated[str, typer.Option("--model", "-m", help="The model to report on.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")] = Path(
        "monitor-report.html"
    ),
    since: Annotated[
        str | None, typer.Option("--since", help="Only the last DURATION, e.g. 6h, 7d.")
    ] = None,
    project_file: Annotated[
        Path | None,
        typer.Option("--project", "-p", help="Project file: draws its alert rules' thresholds."),
    ] = None,
) -> None:
    """Write an HTML page with a line plot of each series over time (versions marked)."""
    from evergreen.core.durations import parse_duration
    from evergreen.monitoring.report import render_report

    ctx = context()
    try:
        window = parse_duration(since) if since is not None else None
    except ValueError as exc:
        raise fail(f"--since: {exc}", 2) from None
    now = ctx.clock.now()
    rows = ctx.predictions.series(model, since=now - window if window else None)
    rules = []
    if project_file is not None:
        from evergreen.pipeline.project import load_project

        rules = load_project(project_file).alerts
    out.write_text(render_report(model, rows, rules=rules, generated=now), encoding="utf-8")
    kinds = {(r.kind, r.feature) for r in rows}
    console.print(f"wrote {out} ({len(kinds)} series, {len(rows)} points)", highlight=False)


@app.command("run")
@handle_errors
def run(project_file: ProjectFile, json_out: JsonFlag = False) -> None:
    """Do one monitor pass over the project's production model now and print what it found."""
    from evergreen.monitoring.monitor import Monitor
    from evergreen.pipeline.project import load_project

    project = load_project(project_file)
    ctx = context()
    monitor = Monitor(ctx.registry, ctx.predictions, ctx.artifacts, ctx.events, ctx.clock)
    outcome = monitor.check(project)
    if outcome is None:
        raise fail(
            f"model {project.name!r} has no production version to monitor; "
            f"see `evergreen models show {project.name}`",
            1,
        )
    if json_out:
        print_json(outcome.to_dict())
        return
    console.print(
        f"{outcome.model} v{outcome.version}: {outcome.rows} row(s) in the window, "
        f"{outcome.labelled} labelled",
        highlight=False,
    )
    if outcome.note:
        console.print(outcome.note, highlight=False)
    print_table(
        "series written",
        ["series", "feature", "value", "rows"],
        [[r.kind, r.feature or "", f"{r.value:.6g}", r.rows] for r in outcome.results],
    )
    for metric, why in outcome.unavailable.items():
        console.print(f"{metric}: not available ({why})", highlight=False)
    if outcome.event is not None:
        console.print(f"drift event {outcome.event.id}: {outcome.event.reason}", highlight=False)
