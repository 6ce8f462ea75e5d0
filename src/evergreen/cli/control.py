"""`evergreen controller`, `evergreen events ...` and `evergreen rollouts ...`: the control loop
on its own (several may share one database), the trigger-event queue, and level-2 rollouts."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from evergreen import bootstrap
from evergreen.cli.context import context
from evergreen.cli.output import JsonFlag, console, fail, handle_errors, print_json, print_table

events_app = typer.Typer(help="Trigger events: the controller's queue.", no_args_is_help=True)
rollouts_app = typer.Typer(
    help="Level-2 rollouts: shadow, canary, promotion.", no_args_is_help=True
)

ProjectFiles = Annotated[
    list[Path],
    typer.Option("--project", "-p", help="Project file (repeatable: one loop for several)."),
]


@handle_errors
def controller(
    project_files: ProjectFiles,
    interval: Annotated[float, typer.Option(min=0.01, help="Seconds between passes.")] = 10.0,
    lease: Annotated[
        float | None,
        typer.Option(
            min=0.1,
            help="Seconds a claimed event stays leased without renewal (default "
            "EVERGREEN_CONTROLLER_LEASE_SECONDS, 300).",
        ),
    ] = None,
    owner: Annotated[
        str | None, typer.Option(help="This controller's name in the queue's leases.")
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False,
) -> None:
    """Run the control loop without a gateway: schedules, monitors, new data, the queue, level-2
    rollouts. Several controllers may share one database: each event runs once, and the event
    of a controller that dies is taken over once its lease expires."""
    from datetime import timedelta

    from evergreen.pipeline.project import load_project

    if not project_files:
        raise fail("give at least one project file with --project FILE", 2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    projects = {}
    for file in project_files:
        project = load_project(file)
        if project.name in projects:
            raise fail(f"{file}: project {project.name!r} is given twice", 2)
        projects[project.name] = project
    ctx = context()
    built = bootstrap.controller(
        ctx,
        projects,
        lease=timedelta(seconds=lease) if lease is not None else None,
        owner=owner,
    )
    service = bootstrap.service(ctx, projects, interval=interval, using=built)
    console.print(
        f"controller {built.owner}: {', '.join(sorted(projects))}, a pass every {interval:g}s, "
        f"leases of {built.lease.total_seconds():g}s",
        highlight=False,
    )
    if once:
        _report(service.tick(progress=_say))
        return
    stop = threading.Event()

    def finish(signum: int, _frame: Any) -> None:
        console.print(
            f"{signal.Signals(signum).name}: stopping after the current pass", highlight=False
        )
        stop.set()

    signal.signal(signal.SIGTERM, finish)
    signal.signal(signal.SIGINT, finish)
    service.run(stop, progress=_say)


def _say(message: str) -> None:
    console.print(message, soft_wrap=True, highlight=False, markup=False)


def _report(report: Any) -> None:
    for event, result in report.runs:
        _say(f"{event.id} ({event.kind}) → run {result.run_id} {result.status}")
    for rollout in report.rollouts:
        _say(f"rollout {rollout.id}: {rollout.model} v{rollout.candidate_version} {rollout.stage}")


@events_app.command("list")
@handle_errors
def list_events(
    project: Annotated[str | None, typer.Option(help="Only this project's events.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest last.")] = 50,
    json_out: JsonFlag = False,
) -> None:
    """Trigger events: why each run started, which wait (deferred by a guard) and why."""
    rows = context().events.list(project, limit=100_000)[-limit:]
    records = [_event_dict(e) for e in rows]
    if json_out:
        print_json(records)
        return
    print_table(
        "trigger events",
        ["id", "project", "kind", "status", "created", "not before", "run", "reason"],
        [
            [
                r["id"],
                r["project"],
                r["kind"],
                r["status"],
                r["created_at"][:19],
                (r["not_before"] or "")[:19],
                r["run_id"] or "",
                r["reason"] if not r["error"] else f"{r['reason']} (error: {r['error']})",
            ]
            for r in records
        ],
    )


def _event_dict(event: Any) -> dict[str, Any]:
    return {
        "id": event.id,
        "project": event.project,
        "kind": event.kind,
        "status": event.status,
        "reason": event.reason,
        "created_at": event.created_at.isoformat(),
        "not_before": event.not_before.isoformat() if event.not_before else None,
        "lease_owner": event.lease_owner,
        "attempts": event.attempts,
        "run_id": event.run_id,
        "finished_at": event.finished_at.isoformat() if event.finished_at else None,
        "error": event.error,
        "evidence": event.evidence,
    }


@rollouts_app.command("list")
@handle_errors
def list_rollouts(
    model: Annotated[str | None, typer.Option(help="Only this model's rollouts.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Level-2 rollouts, newest first: stage, traffic, and the reason of the last step."""
    records = [_rollout_dict(r) for r in context().rollouts.list(model)]
    if json_out:
        print_json(records)
        return
    print_table(
        "rollouts",
        ["id", "model", "candidate", "champion", "stage", "traffic", "updated", "reason"],
        [
            [
                r["id"],
                r["model"],
                r["candidate_version"],
                r["champion_version"],
                r["stage"],
                f"{r['traffic']:.0%}",
                r["updated_at"][:19],
                r["reason"],
            ]
            for r in records
        ],
    )


@rollouts_app.command("show")
@handle_errors
def show_rollout(rollout_id: str, json_out: JsonFlag = False) -> None:
    """One rollout with every step and the evidence it was decided on."""
    from evergreen.errors import NotFound

    row = context().rollouts.get(rollout_id)
    if row is None:
        raise NotFound(f"no rollout {rollout_id!r}; see `evergreen rollouts list`")
    record = _rollout_dict(row)
    if json_out:
        print_json(record)
        return
    console.print(
        f"{record['id']}: {record['model']} v{record['candidate_version']} against "
        f"v{record['champion_version']}, {record['stage']}",
        highlight=False,
    )
    for step in record["history"]:
        console.print(
            f"  {step['at'][:19]}  {step['stage']:<12} {step['traffic']:>4.0%}  {step['reason']}",
            highlight=False,
            markup=False,
        )


def _rollout_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "model": row.model,
        "candidate_version": row.candidate_version,
        "champion_version": row.champion_version,
        "stage": row.stage,
        "traffic": row.traffic,
        "started_at": row.started_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
        "run_id": row.run_id,
        "event_id": row.event_id,
        "reason": row.reason,
        "history": row.history,
    }
