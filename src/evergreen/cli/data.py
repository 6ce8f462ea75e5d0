"""`evergreen data ...`: dataset snapshots."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from evergreen.cli.context import context
from evergreen.cli.output import console, handle_errors, print_json, print_table
from evergreen.store.tables import DatasetVersionRow

app = typer.Typer(help="Versioned datasets.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def dataset_dict(row: DatasetVersionRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "created_at": row.created_at.isoformat(),
        "source": row.source,
        "format": row.format,
        "rows": row.rows,
        "columns": row.columns,
        "files": row.files,
        "schema": row.schema_json,
    }


@app.command()
@handle_errors
def snapshot(
    path: Annotated[str, typer.Argument(help="A CSV or Parquet file, a folder, or a glob.")],
    json_out: JsonFlag = False,
) -> None:
    """Record PATH as an immutable dataset version and print its id."""
    row = context().datasets.snapshot(path)
    if json_out:
        print_json(dataset_dict(row))
    else:
        console.print(row.id, highlight=False)


@app.command()
@handle_errors
def log(
    limit: Annotated[int, typer.Option(help="Show at most this many versions.")] = 50,
    json_out: JsonFlag = False,
) -> None:
    """List dataset versions, newest first."""
    rows = context().datasets.log(limit)
    if json_out:
        print_json([dataset_dict(r) for r in rows])
        return
    print_table(
        "dataset versions",
        ["id", "created", "rows", "files", "source"],
        [(r.id, f"{r.created_at:%Y-%m-%d %H:%M:%S}", r.rows, len(r.files), r.source) for r in rows],
    )
