"""A backtest's report: a table (Rich), JSON, a plot (PNG, matplotlib) and a self-contained
HTML page with the plot embedded."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evergreen.backtest.runner import BacktestResult
from evergreen.errors import InvalidState

if TYPE_CHECKING:
    from rich.table import Table

PLOTS_HINT = "pip install 'evergreen[plots]'"


def summary_rows(result: BacktestResult) -> list[list[str]]:
    """One row per policy: policy, mean metric, retrains, promotions, seconds."""
    best = result.best()
    rows = []
    for name, policy in result.policies.items():
        mark = " (best)" if name == best and len(result.policies) > 1 else ""
        rows.append(
            [
                name + mark,
                f"{policy.mean_metric:.4g}",
                str(policy.retrains),
                str(len(policy.promoted_batches)),
                f"{policy.seconds:.1f}",
            ]
        )
    return rows


HEADERS = ("policy", "mean {metric}", "retrains", "promoted", "seconds")


def headers(result: BacktestResult) -> list[str]:
    direction = "higher" if result.greater_is_better else "lower"
    return [h.format(metric=f"{result.metric} ({direction} is better)") for h in HEADERS]


def table(result: BacktestResult) -> Table:
    from rich.table import Table

    options = result.options
    title = (
        f"backtest: {result.rows:,} rows, {result.batches} batches ({result.batches - 1} "
        f"predicted), label delay {options.label_delay}, training window "
        f"{options.train_window or 'all'} batches, model {options.model}"
    )
    rich_table = Table(title=title, title_justify="left")
    for index, header in enumerate(headers(result)):
        rich_table.add_column(header, justify="left" if index == 0 else "right")
    for row in summary_rows(result):
        rich_table.add_row(*row)
    return rich_table


def write_json(result: BacktestResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n")


def plots_missing() -> InvalidState:
    return InvalidState(f"the plot and the HTML report need matplotlib: {PLOTS_HINT}")


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise plots_missing() from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_png(result: BacktestResult) -> bytes:
    """The metric per batch, one line per policy, a dot where a retrain was promoted."""
    import io

    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(10, 4.5), dpi=100)
    batches = list(range(1, result.batches))
    for name, policy in result.policies.items():
        (line,) = axes.plot(
            batches,
            policy.per_batch,
            label=f"{name}: mean {policy.mean_metric:.4g}, {policy.retrains} retrains",
            linewidth=1.4,
        )
        promoted = [b for b in policy.promoted_batches if 1 <= b < result.batches]
        axes.scatter(
            promoted,
            [policy.per_batch[b - 1] for b in promoted],
            color=line.get_color(),
            s=14,
            zorder=3,
        )
    direction = "higher" if result.greater_is_better else "lower"
    axes.set_xlabel("batch (dots: a retrained model was promoted after this batch)")
    axes.set_ylabel(f"{result.metric} ({direction} is better)")
    axes.set_title(f"{result.metric} per batch, test-then-train")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def write_png(result: BacktestResult, path: Path) -> bytes:
    data = plot_png(result)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def html_page(result: BacktestResult, png: bytes | None = None) -> str:
    """A self-contained page: the summary table, the plot (embedded) and the options."""
    png = png if png is not None else plot_png(result)
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in headers(result))
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
        for row in summary_rows(result)
    )
    options = {
        k: v
        for k, v in result.to_dict().items()
        if k not in ("policies", "batch_times", "metric", "greater_is_better")
    }
    image = base64.b64encode(png).decode()
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>evergreen backtest</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;}}
table{{border-collapse:collapse;}}td,th{{border:1px solid #ccc;padding:4px 10px;}}
td:not(:first-child){{text-align:right;}}</style></head>
<body><h1>evergreen backtest</h1>
<table><tr>{cells}</tr>{body}</table>
<p><img alt="{html.escape(result.metric)} per batch" src="data:image/png;base64,{image}"></p>
<pre>{html.escape(json.dumps(options, indent=2))}</pre>
</body></html>
"""


def write_html(result: BacktestResult, path: Path, png: bytes | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html_page(result, png))
