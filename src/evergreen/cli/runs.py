"""`evergreen runs ...` (recorded pipeline runs and their steps) and `evergreen pipeline show`
(a project's pipeline graph)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from evergreen.cli.context import context
from evergreen.cli.output import JsonFlag, console, fail, handle_errors, print_json, print_table

app = typer.Typer(help="Pipeline runs and their steps.", no_args_is_help=True)
pipeline_app = typer.Typer(help="A project's pipeline.", no_args_is_help=True)


@app.command("list")
@handle_errors
def list_runs(
    project: Annotated[str | None, typer.Option(help="Only this project's runs.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
    json_out: JsonFlag = False,
) -> None:
    """List recent runs, newest first."""
    rows = [_run_dict(run) for run in context().runs.list_runs(project, limit)]
    if json_out:
        print_json(rows)
        return
    print_table(
        "runs",
        ["id", "project", "status", "started", "data", "model version", "error"],
        [
            [
                r["id"],
                r["project"],
                r["status"],
                r["started_at"][:19],
                r["dataset_version"] or "",
                r["model_version"] or "",
                (r["error"] or "")[:60],
            ]
            for r in rows
        ],
    )


@app.command("show")
@handle_errors
def show_run(run_id: str, json_out: JsonFlag = False) -> None:
    """Show a run: its steps, which were reused from the cache, and their outputs."""
    ctx = context()
    run = ctx.runs.get_run(run_id)
    if run is None:
        raise fail(f"no pipeline run {run_id!r}; see `evergreen runs list`", 3)
    steps: list[dict[str, Any]] = [
        {
            "name": s.name,
            "status": s.status,
            "started_at": s.started_at.isoformat(),
            "seconds": (
                round((s.finished_at - s.started_at).total_seconds(), 3) if s.finished_at else None
            ),
            "outputs": s.outputs,
            "error": s.error,
        }
        for s in ctx.runs.steps(run_id)
    ]
    data = {**_run_dict(run), "steps": steps, "trigger_event_id": run.trigger_event_id}
    if json_out:
        print_json(data)
        return
    console.print(f"run {run.id} ({run.project}): {run.status}", highlight=False, markup=False)
    print_table(
        "steps",
        ["step", "status", "seconds", "from cache", "error"],
        [
            [
                s["name"],
                s["status"],
                s["seconds"] if s["seconds"] is not None else "",
                s["outputs"].get("cached_from", ""),
                (s["error"] or "")[:80],
            ]
            for s in steps
        ],
    )


def _run_dict(run: Any) -> dict[str, Any]:
    outcome = run.outcome or {}
    return {
        "id": run.id,
        "project": run.project,
        "status": run.status,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "dataset_version": run.dataset_version_id,
        "model_version": outcome.get("model_version"),
        "cached_steps": outcome.get("cached_steps", []),
        "resumed_from": run.params.get("resumed_from"),
        "error": run.error,
    }


@pipeline_app.command("show")
@handle_errors
def show_pipeline(
    project_file: Annotated[
        Path, typer.Option("--project", "-p", help="Project file defining the pipeline.")
    ],
    format_: Annotated[
        str, typer.Option("--format", help="text, or mermaid (for Markdown and docs).")
    ] = "text",
) -> None:
    """Show the project's pipeline: its steps, what each reads and from which step."""
    from evergreen.pipeline.project import load_project

    if format_ not in ("text", "mermaid"):
        raise fail(f"--format must be text or mermaid, not {format_!r}", 2)
    graph = load_project(project_file).graph()
    text = graph.to_mermaid() if format_ == "mermaid" else graph.to_text()
    console.print(text, highlight=False, markup=False, soft_wrap=True)
