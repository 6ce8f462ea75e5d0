"""A validation report as one self-contained HTML page: no scripts, styles or images to fetch.

The page holds the anomalies table, the drift summary, and for each drifted column an inline
SVG plot of the reference and current distributions (histograms on shared bins for numeric
columns, bars of the most frequent categories otherwise), drawn from the two data sets'
:class:`DatasetStatistics`.
"""

from __future__ import annotations

from html import escape

import numpy as np

from evergreen.validation import sketches
from evergreen.validation.anomaly import Anomaly
from evergreen.validation.drift.base import DriftReport
from evergreen.validation.statistics import HISTOGRAM_BINS, ColumnStatistics, DatasetStatistics

MAX_BARS = 15
_WIDTH, _HEIGHT, _PAD = 640, 220, 30
_COLOURS = {"reference": "#4e79a7", "current": "#f28e2b"}

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
.error { color: #b00020; font-weight: bold; } .warning { color: #a65e00; }
.passed { color: #1b7f3b; } .failed { color: #b00020; }
figure { margin: 1em 0; } figcaption { font-weight: bold; }
"""


def render_html(
    title: str,
    passed: bool | None,
    anomalies: list[Anomaly] | None,
    drift: DriftReport | None,
    reference: DatasetStatistics | None = None,
    current: DatasetStatistics | None = None,
) -> str:
    """The page; plots need both ``reference`` and ``current`` statistics. Without
    ``anomalies`` (a drift-only report) the page has no verdict and no anomalies table."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
    ]
    if anomalies is not None:
        verdict = "passed" if passed else "failed"
        parts += [
            f'<p class="{verdict}">validation {verdict.upper()}: '
            f"{sum(a.severity == 'error' for a in anomalies)} errors, "
            f"{sum(a.severity == 'warning' for a in anomalies)} warnings</p>",
            "<h2>Anomalies</h2>",
            _anomalies_table(anomalies),
        ]
    parts += ["<h2>Drift</h2>", _drift_section(drift, reference, current), "</body></html>"]
    return "\n".join(parts) + "\n"


def _anomalies_table(anomalies: list[Anomaly]) -> str:
    if not anomalies:
        return "<p>No anomalies.</p>"
    rows = "".join(
        f'<tr><td class="{a.severity}">{a.severity}</td><td>{escape(a.check)}</td>'
        f"<td>{escape(a.column or '')}</td><td>{escape(_observed(a.observed))}</td>"
        f"<td>{escape(a.message)}</td></tr>"
        for a in anomalies
    )
    return (
        "<table><thead><tr><th>severity</th><th>check</th><th>column</th><th>observed</th>"
        f"<th>message</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _observed(value: object) -> str:
    if value is None:
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _drift_section(
    drift: DriftReport | None,
    reference: DatasetStatistics | None,
    current: DatasetStatistics | None,
) -> str:
    if drift is None:
        return "<p>Drift was not checked.</p>"
    tested = len(drift.tested_columns)
    summary = (
        f"<p>{len(drift.drifted_columns)} of {tested} tested columns drifted "
        f"({drift.drift_share:.0%}; dataset drift at {drift.share_threshold:.0%}): "
        f"<strong>{'dataset drift' if drift.dataset_drift else 'no dataset drift'}</strong></p>"
    )
    rows = "".join(
        f"<tr><td>{escape(c.column)}</td><td>{escape(c.test)}</td>"
        f"<td>{_observed(c.statistic)}</td><td>{_observed(c.p_value)}</td>"
        f"<td>{c.threshold:g}</td><td>{'yes' if c.drifted else 'no'}</td>"
        f"<td>{escape(c.note or '')}</td></tr>"
        for c in drift.columns
    )
    table = (
        "<table><thead><tr><th>column</th><th>test</th><th>statistic</th><th>p-value</th>"
        f"<th>threshold</th><th>drifted</th><th>note</th></tr></thead><tbody>{rows}</tbody></table>"
    )
    plots = [
        _figure(name, reference.columns.get(name), current.columns.get(name))
        for name in drift.drifted_columns
        if reference is not None and current is not None
    ]
    return summary + table + "".join(plots)


def _figure(name: str, ref: ColumnStatistics | None, cur: ColumnStatistics | None) -> str:
    bars = None if ref is None or cur is None else distributions(ref, cur)
    body = "<p>No statistics to plot.</p>" if bars is None else bar_chart(bars[0], bars[1], bars[2])
    return f"<figure><figcaption>{escape(name)}: reference vs current</figcaption>{body}</figure>"


def distributions(
    ref: ColumnStatistics, cur: ColumnStatistics
) -> tuple[list[str], list[float], list[float]] | None:
    """Bar labels and the reference and current shares per bar, or None if not plottable."""
    if ref.kind == cur.kind == "numeric" and ref.sketch and cur.sketch:
        ref_values, ref_weights = sketches.items(ref.sketch.levels)
        cur_values, cur_weights = sketches.items(cur.sketch.levels)
        both = np.concatenate([ref_values, cur_values])
        if both.size == 0:
            return None
        edges = np.linspace(both.min(), both.max(), HISTOGRAM_BINS + 1)
        if not np.all(np.isfinite(edges)) or edges[0] == edges[-1]:
            edges = np.array([both.min() - 0.5, both.max() + 0.5])
        shares = [
            _shares(np.histogram(values, bins=edges, weights=weights)[0])
            for values, weights in ((ref_values, ref_weights), (cur_values, cur_weights))
        ]
        labels = [f"{edges[i]:.3g}" for i in range(len(edges) - 1)]
        return labels, shares[0], shares[1]
    if ref.top_values is not None and cur.top_values is not None:
        combined: dict[str, int] = {}
        for counts in (ref.top_values, cur.top_values):
            for key, n in counts.items():
                combined[key] = combined.get(key, 0) + n
        labels = sorted(combined, key=lambda key: (-combined[key], key))[:MAX_BARS]
        return (
            labels,
            [ref.top_values.get(k, 0) / max(ref.count, 1) for k in labels],
            [cur.top_values.get(k, 0) / max(cur.count, 1) for k in labels],
        )
    return None


def _shares(counts: np.ndarray) -> list[float]:
    total = float(counts.sum())
    return [float(c) / total if total else 0.0 for c in counts]


def bar_chart(labels: list[str], reference: list[float], current: list[float]) -> str:
    """Grouped bars, reference and current side by side, as an SVG element."""
    top = max([*reference, *current, 1e-12])
    slot = (_WIDTH - 2 * _PAD) / max(len(labels), 1)
    bar = slot * 0.4
    base = _HEIGHT - _PAD
    shapes: list[str] = []
    for i, label in enumerate(labels):
        x = _PAD + i * slot
        for j, (side, share) in enumerate((("reference", reference[i]), ("current", current[i]))):
            height = (base - _PAD) * share / top
            shapes.append(
                f'<rect x="{x + j * bar:.1f}" y="{base - height:.1f}" width="{bar:.1f}" '
                f'height="{height:.1f}" fill="{_COLOURS[side]}">'
                f"<title>{escape(label)} {side}: {share:.1%}</title></rect>"
            )
        if len(labels) <= 20:
            shapes.append(
                f'<text x="{x + bar:.1f}" y="{base + 12}" font-size="9" text-anchor="middle">'
                f"{escape(label[:10])}</text>"
            )
    legend = "".join(
        f'<rect x="{_PAD + k * 90}" y="6" width="10" height="10" fill="{colour}"/>'
        f'<text x="{_PAD + k * 90 + 14}" y="15" font-size="11">{side}</text>'
        for k, (side, colour) in enumerate(_COLOURS.items())
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{_HEIGHT}" '
        f'viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img">{legend}'
        f'<line x1="{_PAD}" y1="{base}" x2="{_WIDTH - _PAD}" y2="{base}" stroke="#888"/>'
        f"{''.join(shapes)}</svg>"
    )
