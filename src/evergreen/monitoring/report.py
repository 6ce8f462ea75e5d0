"""A self-contained HTML page of a model's monitor series: one inline SVG line plot per series.

Each plot shows a series' values over time (one line per model version, a dashed vertical line
where a new version took over) and, when alert rules are given, their ``above``/``below``
thresholds as horizontal lines. No script, no external file: the page opens anywhere.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime

from evergreen.pipeline.alerting import AlertRule
from evergreen.store.tables import MonitorResultRow

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 14, 28
COLOURS = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1", "#9c755f")

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.05rem; margin: 1.6rem 0 0.3rem; }
p.meta { color: #555; font-size: 0.85rem; margin: 0.2rem 0; }
svg { background: #fafafa; border: 1px solid #ddd; }
svg text { font-size: 10px; fill: #444; }
"""


def series_key(row: MonitorResultRow) -> str:
    return row.kind if row.feature is None else f"{row.kind}[{row.feature}]"


def render_report(
    model: str,
    rows: Sequence[MonitorResultRow],
    *,
    rules: Sequence[AlertRule] = (),
    generated: datetime | None = None,
) -> str:
    """The page for ``rows`` (any order): one section per series, sorted by name."""
    groups: dict[str, list[MonitorResultRow]] = {}
    for row in sorted(rows, key=lambda r: (r.at, r.id)):
        groups.setdefault(series_key(row), []).append(row)
    sections = []
    for key in sorted(groups):
        series = groups[key]
        first = series[0]
        thresholds = [
            (rule.name, value)
            for rule in rules
            if rule.series == first.kind and rule.feature == first.feature
            for value in (rule.above, rule.below)
            if value is not None
        ]
        last = series[-1]
        sections.append(
            f"<section><h2>{html.escape(key)}</h2>"
            f'<p class="meta">{len(series)} point(s); latest {last.value:.6g} '
            f"on {last.rows} row(s) of v{last.version} at {last.at:%Y-%m-%d %H:%M:%S}</p>"
            f"{line_chart(series, thresholds)}</section>"
        )
    body = "".join(sections) or "<p>No monitor results for this model yet.</p>"
    when = f" — generated {generated:%Y-%m-%d %H:%M:%S %Z}" if generated else ""
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>evergreen monitors: {html.escape(model)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>Monitors of {html.escape(model)}</h1>"
        f'<p class="meta">{len(groups)} series{when}</p>{body}</body></html>'
    )


def line_chart(
    series: Sequence[MonitorResultRow], thresholds: Sequence[tuple[str, float]] = ()
) -> str:
    """An inline SVG plot of one series (oldest first): a line per version, dashed lines where
    the version changes, dotted threshold lines."""
    times = [row.at.timestamp() for row in series]
    values = [row.value for row in series]
    low = min([*values, *(v for _, v in thresholds)])
    high = max([*values, *(v for _, v in thresholds)])
    if high == low:
        low, high = low - 0.5, high + 0.5
    start, end = min(times), max(times)
    span = end - start or 1.0

    def x(t: float) -> float:
        return LEFT + (t - start) / span * (WIDTH - LEFT - RIGHT)

    def y(v: float) -> float:
        return TOP + (high - v) / (high - low) * (HEIGHT - TOP - BOTTOM)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img">',
        f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" y2="{HEIGHT - BOTTOM}" '
        'stroke="#999"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}" stroke="#999"/>',
        f'<text x="{LEFT - 4}" y="{TOP + 4}" text-anchor="end">{high:.4g}</text>',
        f'<text x="{LEFT - 4}" y="{HEIGHT - BOTTOM}" text-anchor="end">{low:.4g}</text>',
        f'<text x="{LEFT}" y="{HEIGHT - 8}">{series[0].at:%Y-%m-%d %H:%M}</text>',
        f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 8}" text-anchor="end">'
        f"{series[-1].at:%Y-%m-%d %H:%M}</text>",
    ]
    for name, value in thresholds:
        parts.append(
            f'<line x1="{LEFT}" y1="{y(value):.1f}" x2="{WIDTH - RIGHT}" y2="{y(value):.1f}" '
            f'stroke="#e15759" stroke-dasharray="2 3"><title>{html.escape(name)}: '
            f"{value:g}</title></line>"
        )
    versions: list[int] = []
    for i, row in enumerate(series):
        if not versions or row.version != versions[-1]:
            versions.append(row.version)
            if i:
                parts.append(
                    f'<line x1="{x(times[i]):.1f}" y1="{TOP}" x2="{x(times[i]):.1f}" '
                    f'y2="{HEIGHT - BOTTOM}" stroke="#888" stroke-dasharray="4 3"/>'
                    f'<text x="{x(times[i]) + 3:.1f}" y="{TOP + 10}">v{row.version}</text>'
                )
    for n, version in enumerate(versions):
        points = [
            (x(t), y(v))
            for t, v, row in zip(times, values, series, strict=True)
            if row.version == version
        ]
        colour = COLOURS[n % len(COLOURS)]
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{path}">'
            f"<title>v{version}</title></polyline>"
        )
        parts.extend(
            f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2" fill="{colour}"/>' for px, py in points
        )
    parts.append("</svg>")
    return "".join(parts)
