"""`evergreen data schema|validate|drift`: data checks usable as a CI gate.

Exit codes: ``validate`` exits 0 when no error-severity anomaly is found, 1 when one is and 2
when the input (the data, or the schema file) cannot be read; ``drift`` exits 0 without
dataset drift and 1 with it. Data arguments take a dataset version id (or unique prefix) or a
CSV/Parquet file path.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from evergreen.cli.context import context
from evergreen.cli.data import app
from evergreen.cli.output import (
    JsonFlag,
    console,
    errors,
    fail,
    handle_errors,
    print_json,
    print_table,
)
from evergreen.data.sources import FORMATS, read_file
from evergreen.errors import InvalidInput, NotFound

if TYPE_CHECKING:  # validation (pandas, SciPy) is imported by the commands that use it
    import pandas as pd

    from evergreen.validation.saved_schemas import SavedSchemas
    from evergreen.validation.schema import Schema
    from evergreen.validation.statistics import DatasetStatistics

JsonOut = Annotated[
    Path | None,
    typer.Option("--json", help="Write the report as JSON to this file (- for stdout)."),
]
HtmlOut = Annotated[
    Path | None, typer.Option("--html", help="Write a self-contained HTML report to this file.")
]
ShareOption = Annotated[
    float | None,
    typer.Option(help="Dataset drift when at least this share of the columns drifted."),
]


def is_path(ref: str) -> bool:
    """Whether ``ref`` names a file rather than a dataset version."""
    path = Path(ref)
    return path.exists() or path.suffix.lower() in FORMATS or "/" in ref


def load(ref: str) -> pd.DataFrame:
    """The rows of a file path or a dataset version."""
    if is_path(ref):
        return read_file(ref)
    datasets = context().datasets
    return datasets.load(datasets.get(ref).id)


@app.command()
@handle_errors
def schema(
    version: Annotated[str, typer.Argument(help="A dataset version (or a file path).")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the YAML here, not to stdout.")
    ] = None,
    label: Annotated[
        str | None, typer.Option(help="The label column: record its distribution.")
    ] = None,
    infer: Annotated[
        bool, typer.Option("--infer", help="Infer it from the data even if one is saved.")
    ] = False,
    save: Annotated[
        bool, typer.Option("--save", help="Save the schema with VERSION (versioned with it).")
    ] = False,
    set_file: Annotated[
        Path | None,
        typer.Option("--set", help="Save this (edited) schema YAML file with VERSION."),
    ] = None,
    history: Annotated[
        bool, typer.Option("--history", help="List the schemas saved with VERSION.")
    ] = False,
    json_out: JsonFlag = False,
) -> None:
    """Write the schema of VERSION as YAML: the one saved with it, else inferred from it.

    Review and tighten the YAML, then save it with the version (--set FILE): validating
    against that version (data validate --reference VERSION) then uses it.
    """
    from evergreen.validation import infer_schema

    if is_path(version):
        if save or set_file is not None or history:
            raise InvalidInput(f"{version}: schemas are saved with dataset versions, not files")
        _emit(infer_schema(_statistics(version), label=label).to_yaml(), output)
        return
    saved = _saved_schemas()
    if history:
        rows = saved.history(version)
        if json_out:
            print_json(
                [
                    {
                        "id": r.id,
                        "dataset_version": r.dataset_version_id,
                        "saved_at": r.created_at.isoformat(),
                        "origin": r.origin,
                        "sha256": r.sha256,
                        "note": r.note,
                    }
                    for r in rows
                ]
            )
            return
        print_table(
            "saved schemas",
            ["id", "saved", "origin", "sha256", "note"],
            [
                (r.id, f"{r.created_at:%Y-%m-%d %H:%M:%S}", r.origin, r.sha256[:12], r.note)
                for r in rows
            ],
        )
        return
    if set_file is not None:
        edited = _read_schema(set_file)
        row = saved.save(version, edited, "edited", note=str(set_file))
        console.print(
            f"saved {set_file} as the schema of {row.dataset_version_id} ({row.id})",
            highlight=False,
        )
        return
    if infer:
        current = infer_schema(_statistics(version), label=label)
    else:
        found = saved.saved(version)
        current = found.schema if found else infer_schema(_statistics(version), label=label)
    if save:
        row = saved.save(version, current, "inferred")
        errors.print(f"saved as the schema of {row.dataset_version_id} ({row.id})", highlight=False)
    _emit(current.to_yaml(), output)


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
        console.print(f"wrote {output}", highlight=False)


def _saved_schemas() -> SavedSchemas:
    from evergreen.store.datasets import DatasetSchemaRepository
    from evergreen.validation.saved_schemas import SavedSchemas

    ctx = context()
    return SavedSchemas(ctx.datasets, DatasetSchemaRepository(ctx.db), ctx.clock)


@app.command()
def validate(
    target: Annotated[str, typer.Argument(help="The batch: a file path or a dataset version.")],
    reference: Annotated[
        str | None,
        typer.Option(help="Infer the schema from this dataset version (or path); also drift."),
    ] = None,
    schema_file: Annotated[
        Path | None, typer.Option("--schema", help="Check against this schema YAML file.")
    ] = None,
    json_out: JsonOut = None,
    html_out: HtmlOut = None,
) -> None:
    """Check a batch against a schema; exit 1 on an error-severity anomaly, 2 if unreadable."""
    if (reference is None) == (schema_file is None):
        raise fail("give exactly one of --reference VERSION and --schema FILE", 2)
    try:
        batch = load(target)
        expected = _read_schema(schema_file) if schema_file is not None else None
    except (NotFound, InvalidInput) as exc:  # an unreadable input is exit 2, whatever its kind
        raise fail(str(exc), 2) from None
    _validate(batch, expected, reference, json_out, html_out, target)


@handle_errors
def _validate(
    batch: pd.DataFrame,
    expected: Schema | None,
    reference: str | None,
    json_out: Path | None,
    html_out: Path | None,
    target: str,
) -> None:
    from evergreen.validation import (
        ValidationReport,
        check_batch,
        compute_statistics,
        detect_drift,
        infer_schema,
    )

    base: pd.DataFrame | None = None
    if expected is None and reference is not None:
        base = load(reference)
        found = None if is_path(reference) else _saved_schemas().saved(reference)
        expected = found.schema if found else infer_schema(compute_statistics(base))
    if expected is None:  # pragma: no cover - validate() requires one of them
        raise InvalidInput("no schema to check against")
    drift = None
    if base is not None:
        try:
            drift = detect_drift(base, batch)
        except InvalidInput:  # no shared columns: the anomalies say so
            drift = None
    report = ValidationReport(anomalies=check_batch(batch, expected), drift=drift)
    _write(json_out, report.to_dict())
    if html_out is not None:
        html_out.write_text(report.to_html(base, batch, title=f"Validation of {target}"))
    if json_out is None or str(json_out) != "-":
        console.print(report.summary(), highlight=False, markup=False, soft_wrap=True)
    if not report.passed:
        raise typer.Exit(1)


@app.command()
@handle_errors
def drift(
    reference: Annotated[str, typer.Argument(help="Reference data: a dataset version or path.")],
    current: Annotated[str, typer.Argument(help="Current data: a dataset version or path.")],
    json_out: JsonOut = None,
    html_out: HtmlOut = None,
    share_threshold: ShareOption = None,
) -> None:
    """Test every shared column for drift; exit 1 when the data set as a whole drifted."""
    from evergreen.validation import ValidationReport, compute_statistics, detect_drift
    from evergreen.validation.html import render_html

    ref, cur = load(reference), load(current)
    options: dict[str, Any] = {}
    if share_threshold is not None:
        options["share_threshold"] = share_threshold
    report = detect_drift(ref, cur, **options)
    _write(json_out, report.to_dict())
    if html_out is not None:
        page = render_html(
            f"Drift of {current} from {reference}",
            None,
            None,
            report,
            compute_statistics(ref),
            compute_statistics(cur),
        )
        html_out.write_text(page)
    if json_out is None or str(json_out) != "-":
        summary = ValidationReport(anomalies=[], drift=report).summary().splitlines()[-1]
        console.print(summary, highlight=False, markup=False, soft_wrap=True)
    if report.dataset_drift:
        raise typer.Exit(1)


def _statistics(ref: str) -> DatasetStatistics:
    """Statistics of a version or path; a Parquet file is read chunk by chunk."""
    from evergreen.validation import compute_statistics
    from evergreen.validation.chunked import compute_statistics_parquet

    if is_path(ref) and Path(ref).suffix.lower() in (".parquet", ".pq"):
        return compute_statistics_parquet(ref)
    return compute_statistics(load(ref))


def _read_schema(path: Path) -> Schema:
    from evergreen.validation.schema import Schema

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound(f"{path}: no such schema file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read the schema file: {exc}") from None
    return Schema.from_yaml(text, source=str(path))


def _write(out: Path | None, data: Any) -> None:
    if out is None:
        return
    text = json.dumps(data, indent=2, default=str) + "\n"
    if str(out) == "-":
        typer.echo(text, nl=False)
    else:
        out.write_text(text)
