"""`evergreen backtest`: replay a historical table through the real loop under several
retraining policies, side by side (see docs/backtest.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from evergreen.cli.output import console, handle_errors
from evergreen.errors import InvalidInput


@handle_errors
def backtest(
    data: Annotated[Path, typer.Option("--data", help="CSV or Parquet file to replay.")],
    target: Annotated[str, typer.Option("--target", help="The label column.")],
    policies: Annotated[
        str,
        typer.Option(
            "--policies",
            help="Comma-separated: never, every:N, drift, performance, drift+performance.",
        ),
    ] = "never,every:1,drift,performance",
    time_column: Annotated[
        str | None,
        typer.Option(
            "--time-column", help="Order rows by this column (default: the file's row order)."
        ),
    ] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Rows per batch.")] = None,
    batch_period: Annotated[
        str | None,
        typer.Option("--batch-period", help="Time per batch, e.g. 1d or 7d (needs --time-column)."),
    ] = None,
    model: Annotated[
        str,
        typer.Option("--model", help="hgb (default), rf, linear, logistic or module:callable."),
    ] = "hgb",
    metric: Annotated[
        str | None,
        typer.Option("--metric", help="Default: accuracy (classes) or rmse (regression)."),
    ] = None,
    task: Annotated[
        str | None,
        typer.Option("--task", help="classification or regression (default: from the target)."),
    ] = None,
    label_delay: Annotated[
        int, typer.Option("--label-delay", help="Batch t's labels arrive with batch t+K.")
    ] = 0,
    train_window: Annotated[
        int,
        typer.Option(
            "--train-window-batches", help="Train on the newest N labelled batches (0: all)."
        ),
    ] = 5,
    margin: Annotated[
        float,
        typer.Option(
            "--margin",
            help="Performance policy: retrain when this much worse than the holdout score.",
        ),
    ] = 0.1,
    reset_on_signal: Annotated[
        bool,
        typer.Option(
            "--reset-on-signal/--no-reset-on-signal",
            help="A drift or performance signal restarts the training window at its batch.",
        ),
    ] = True,
    drop: Annotated[
        str | None,
        typer.Option("--drop", help="Comma-separated columns not to use as features."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="Policies replayed at once (default: one per core)."),
    ] = None,
    state: Annotated[
        Path | None,
        typer.Option("--state", help="Keep each policy's evergreen home in this folder."),
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the JSON report to this file.")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write the plot (PNG) to this file.")
    ] = None,
    html_out: Annotated[
        Path | None, typer.Option("--html", help="Write an HTML report to this file.")
    ] = None,
) -> None:
    """Replay a dataset as batches through the pipeline, monitors and triggers on a simulated
    clock, once per retraining policy: each batch is predicted by the policy's current model,
    then its labels are revealed (test-then-train)."""
    from evergreen.backtest import report
    from evergreen.backtest.policies import parse_policies
    from evergreen.backtest.replay import Options
    from evergreen.backtest.runner import run_backtest
    from evergreen.backtest.stream import make_stream, read_table

    if label_delay < 0 or train_window < 0 or margin < 0:
        raise InvalidInput(
            "--label-delay, --train-window-batches and --margin must not be negative"
        )
    chosen = parse_policies(policies)
    if (plot is not None or html_out is not None) and not _has_matplotlib():
        raise report.plots_missing()
    raw = read_table(data)
    dropped = tuple(c.strip() for c in (drop or "").split(",") if c.strip())
    stream = make_stream(
        raw,
        target=target,
        time_column=time_column,
        batch_size=batch_size,
        batch_period=batch_period,
        drop=dropped,
        task=task,
    )
    options = Options(
        model=model,
        metric=metric,
        label_delay=label_delay,
        train_window=train_window or None,
        margin=margin,
        reset_on_signal=reset_on_signal,
    )
    console.print(
        f"backtest of {data}: {len(stream.frame):,} rows in {len(stream)} batches, "
        f"{stream.task}, policies {', '.join(p.name for p in chosen)}",
        highlight=False,
        soft_wrap=True,
    )
    result = run_backtest(
        stream,
        chosen,
        options,
        workers=workers,
        state=state,
        say=lambda line: console.print(f"  {line}", highlight=False, soft_wrap=True),
    )
    console.print(report.table(result))
    if json_out is not None:
        report.write_json(result, json_out)
    png = report.write_png(result, plot) if plot is not None else None
    if html_out is not None:
        report.write_html(result, html_out, png)


def _has_matplotlib() -> bool:
    from importlib.util import find_spec

    return find_spec("matplotlib") is not None
