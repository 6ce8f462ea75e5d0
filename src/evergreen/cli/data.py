"""`evergreen data ...`: dataset snapshots."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from evergreen.cli.context import context
from evergreen.cli.output import JsonFlag, console, handle_errors, print_json, print_table
from evergreen.store.tables import DatasetVersionRow

app = typer.Typer(help="Versioned datasets.", no_args_is_help=True)


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
    path: Annotated[
        str,
        typer.Argument(help="A CSV, Parquet or JSON lines file, a folder, a glob or a URL."),
    ],
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


@app.command()
@handle_errors
def diff(
    a: Annotated[str, typer.Argument(help="The older dataset version (id or unique prefix).")],
    b: Annotated[str, typer.Argument(help="The newer dataset version (id or unique prefix).")],
    stats: Annotated[
        bool,
        typer.Option(
            "--stats/--no-stats",
            help="Also compare column statistics (reads both versions' rows).",
        ),
    ] = True,
    json_out: JsonFlag = False,
) -> None:
    """Show the files, row counts, schema and column statistics that changed from A to B."""
    datasets = context().datasets
    result = datasets.diff(a, b)
    deltas = []
    if stats and not result.identical:
        from evergreen.validation.statistics import compute_statistics
        from evergreen.validation.stats_diff import statistics_delta

        deltas = statistics_delta(
            compute_statistics(datasets.load(result.a)), compute_statistics(datasets.load(result.b))
        )
    if json_out:
        print_json({**result.to_dict(), "statistics": [d.to_dict() for d in deltas]})
        return
    delta = result.rows_b - result.rows_a
    console.print(f"{result.a} → {result.b}", highlight=False)
    console.print(f"rows: {result.rows_a} → {result.rows_b} ({delta:+d})", highlight=False)
    lines = [f"+ {name}" for name in result.files_added]
    lines += [f"- {name}" for name in result.files_removed]
    lines += [f"~ {c.name} (rows {c.rows_a} → {c.rows_b})" for c in result.files_changed]
    lines += [f"+ column {c}" for c in result.columns_added]
    lines += [f"- column {c}" for c in result.columns_removed]
    lines += [f"~ column {c.column}: {c.dtype_a} → {c.dtype_b}" for c in result.dtypes_changed]
    lines += [f"~ statistics {d.describe()}" for d in deltas]
    for line in lines:
        console.print(line, highlight=False, markup=False)
    if result.identical:
        console.print("no changes", highlight=False)


@app.command()
@handle_errors
def checkout(
    version: Annotated[str, typer.Argument(help="A dataset version (id or unique prefix).")],
    directory: Annotated[Path, typer.Argument(help="Where to write the version's files.")],
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite existing files that hold other bytes.")
    ] = False,
    json_out: JsonFlag = False,
) -> None:
    """Write VERSION's files, byte for byte, under DIRECTORY."""
    written = context().datasets.checkout(version, directory, force=force)
    if json_out:
        print_json([str(p) for p in written])
        return
    for path in written:
        console.print(str(path), highlight=False, markup=False, soft_wrap=True)


@app.command()
@handle_errors
def show(
    version: Annotated[str, typer.Argument(help="A dataset version (id or unique prefix).")],
    json_out: JsonFlag = False,
) -> None:
    """Show a dataset version, its files and the runs and model versions that used it."""
    datasets = context().datasets
    row = datasets.get(version)
    lineage = datasets.lineage(row.id)
    if json_out:
        print_json({**dataset_dict(row), "lineage": lineage.to_dict()})
        return
    console.print(
        f"{row.id}  {row.rows} rows  {len(row.columns)} columns  {row.format}  "
        f"{row.created_at:%Y-%m-%d %H:%M:%S}",
        highlight=False,
    )
    console.print(f"source: {row.source}", highlight=False, markup=False, soft_wrap=True)
    print_table(
        "files",
        ["name", "rows", "size", "sha256"],
        [(f["name"], f["rows"], f["size"], f["sha256"][:12]) for f in row.files],
    )
    print_table(
        "used by runs",
        ["run", "project", "status", "started"],
        [(r.run_id, r.project, r.status, r.started_at) for r in lineage.runs],
    )
    print_table(
        "used by model versions",
        ["model", "version", "stage", "run"],
        [(m.model, m.version, m.stage, m.run_id) for m in lineage.model_versions],
    )
