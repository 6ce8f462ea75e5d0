"""`evergreen alerts ...`: the alerts rules raised, and a test of a project's notifiers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from evergreen.cli.context import context
from evergreen.cli.output import JsonFlag, console, fail, handle_errors, print_json, print_table

if TYPE_CHECKING:
    from evergreen.store.tables import AlertRow

app = typer.Typer(help="Alerts and notifiers.", no_args_is_help=True)

# store.alerts.STATUSES, not imported from there: keeps the start of the CLI light
STATUSES = ("pending", "delivering", "delivered", "undelivered")


@app.command("list")
@handle_errors
def list_alerts(
    project: Annotated[str | None, typer.Option(help="Only this project's alerts.")] = None,
    status: Annotated[
        str | None,
        typer.Option(
            help="Only alerts in this state: pending, delivering, delivered, undelivered."
        ),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only alerts this recent: 90m, 6h, 2d, 1w.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 50,
    json_out: JsonFlag = False,
) -> None:
    """The newest alerts first, with how their delivery went."""
    from evergreen.core.durations import parse_duration

    if status is not None and status not in STATUSES:
        raise fail(f"--status {status!r}: expected one of {', '.join(STATUSES)}", 2)
    ctx = context()
    try:
        after = None if since is None else ctx.clock.now() - parse_duration(since)
    except ValueError as exc:
        raise fail(f"--since: {exc}", 2) from None
    rows = ctx.alerts.list(project=project, status=status, since=after, limit=limit)
    if json_out:
        print_json([_as_dict(row) for row in rows])
        return
    print_table(
        "alerts",
        ["at", "project", "rule", "status", "rounds", "message"],
        [
            [row.at.isoformat()[:19], row.project, row.rule, _status(row), row.attempts,
             row.message]
            for row in rows
        ],
    )  # fmt: skip


@app.command("test")
@handle_errors
def send_test(
    project_file: Annotated[
        Path,
        typer.Option("--project", "-p", help="Project file defining `project = eg.Project(...)`."),
    ],
    notifier: Annotated[
        str | None, typer.Option(help="Only this notifier (default: every one in the project).")
    ] = None,
) -> None:
    """Send a test alert through the project's notifiers; print per notifier ok or the error.
    Exit 1 when one failed."""
    from evergreen.core.clock import SystemClock
    from evergreen.monitoring.notifiers import try_notifiers
    from evergreen.pipeline.project import load_project

    project = load_project(project_file)
    outcomes = try_notifiers(project, SystemClock().now(), only=notifier)
    for name, outcome in outcomes.items():
        console.print(
            f"{name}: {outcome.describe()}", highlight=False, markup=False, soft_wrap=True
        )
    failed = [name for name, outcome in outcomes.items() if not outcome.ok]
    if failed:
        raise fail(f"notifier(s) {', '.join(failed)} failed; see the errors above", 1)


def _status(row: AlertRow) -> str:
    if row.status != "undelivered":
        return str(row.status)
    failed = sorted(name for name, d in row.deliveries.items() if not d.get("ok"))
    return f"undelivered ({', '.join(failed)})"


def _as_dict(row: AlertRow) -> dict[str, Any]:
    """What notifiers send for the alert, with its delivery record."""
    from evergreen.monitoring.notifiers.base import alert_payload

    payload = alert_payload(row)
    del payload["test"]
    return {
        **payload,
        "status": row.status,
        "attempts": row.attempts,
        "deliveries": row.deliveries,
        "delivered_at": row.delivered_at.isoformat() if row.delivered_at else None,
    }
