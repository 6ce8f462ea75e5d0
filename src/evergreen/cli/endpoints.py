"""`evergreen endpoints ...`: traffic policies (A/B/n variants, shadows, sticky routing) and
the verdict on the experiment they run.

Changes are stored in the metadata database; every gateway on it follows within its poll
interval, no restart needed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from evergreen.cli.context import context
from evergreen.cli.output import JsonFlag, console, fail, handle_errors, print_json, print_table

app = typer.Typer(
    help="Serving endpoints: A/B/n variants, shadows, verdicts.", no_args_is_help=True
)

VariantOption = Annotated[
    list[str] | None,
    typer.Option(
        "--variant",
        help="NAME=MODEL_REF[,WEIGHT], e.g. champion=bikes@production,90 (repeatable; the first "
        "is the primary).",
    ),
]
ShadowOption = Annotated[
    list[str] | None,
    typer.Option(
        "--shadow",
        help="NAME=MODEL_REF[,SAMPLE]: gets a copy of (a share of) the requests; never answers.",
    ),
]


@app.command("list")
@handle_errors
def list_endpoints(json_out: JsonFlag = False) -> None:
    """Stored endpoints (every model with a production version is also served by name)."""
    rows = [e.to_dict() for e in context().endpoints.list()]
    if json_out:
        print_json(rows)
        return
    print_table(
        "endpoints",
        ["name", "variants", "shadows", "sticky", "updated", "by"],
        [
            [
                r["name"],
                ", ".join(
                    f"{v['name']}={v['model']} ({v['weight']:g})" for v in r["policy"]["variants"]
                ),
                ", ".join(f"{s['name']}={s['model']}" for s in r["policy"]["shadows"]),
                r["policy"]["sticky"] or "",
                r["updated_at"][:19],
                r["updated_by"],
            ]
            for r in rows
        ],
    )


@app.command("show")
@handle_errors
def show_endpoint(name: str) -> None:
    """Print an endpoint's stored policy as JSON."""
    print_json(context().endpoints.get(name).to_dict())


@app.command("set")
@handle_errors
def set_endpoint(
    name: str,
    variant: VariantOption = None,
    shadow: ShadowOption = None,
    sticky: Annotated[
        str | None, typer.Option(help="Request header that keeps a caller on one variant.")
    ] = None,
    policy_file: Annotated[
        Path | None,
        typer.Option("--file", help="The policy as JSON or YAML (instead of the options)."),
    ] = None,
    reason: Annotated[str, typer.Option(help="Why, for the audit log.")] = "",
) -> None:
    """Create or replace an endpoint's policy (every model reference must resolve now)."""
    if policy_file is not None:
        if variant or shadow or sticky:
            raise fail("give either --file or --variant/--shadow/--sticky, not both", 2)
        policy = _read_policy(policy_file)
    elif not variant:
        raise fail("give at least one --variant NAME=MODEL_REF[,WEIGHT], or --file", 2)
    else:
        policy = {
            "variants": [_part(v, "--variant", "weight") for v in variant],
            "shadows": [_part(s, "--shadow", "sample") for s in shadow or []],
            "sticky": sticky,
        }
    ctx = context()
    endpoint = ctx.endpoints.set(name, policy, actor=ctx.settings.actor, reason=reason)
    console.print(
        f"endpoint {name}: "
        + ", ".join(f"{v.name} -> {v.model}" for v in endpoint.policy.variants),
        highlight=False,
    )


@app.command("delete")
@handle_errors
def delete_endpoint(
    name: str, reason: Annotated[str, typer.Option(help="Why, for the audit log.")] = ""
) -> None:
    """Remove a stored endpoint (a model keeps being served under its own name)."""
    ctx = context()
    ctx.endpoints.delete(name, actor=ctx.settings.actor, reason=reason)
    console.print(f"deleted endpoint {name}", highlight=False)


@app.command("verdict")
@handle_errors
def verdict(name: str, json_out: JsonFlag = False) -> None:
    """How each variant does against the primary: latency, errors, agreement, and with
    feedback labels the metric with its interval and an always-valid test."""
    from evergreen.serving.experiment import judge_endpoint

    ctx = context()
    result = judge_endpoint(
        ctx.registry, ctx.endpoints, ctx.predictions, ctx.artifacts, ctx.feedback, name
    )
    if json_out:
        print_json(result)
        return
    print_table(
        f"{name}: {result['requests']} requests, {result.get('labelled', 0)} labelled "
        f"(metric {result['metric']})",
        ["variant", "role", "requests", "error rate", "p50 ms", "p99 ms", "agreement", "metric",
         "vs primary"],
        [_verdict_row(v, result["metric"]) for v in result["variants"]],
    )  # fmt: skip
    console.print(result["summary"], highlight=False)


def _verdict_row(v: dict[str, Any], metric: str) -> list[str]:
    rate = v["error_rate"]
    value = v.get("metric")
    versus = v.get("vs_primary")
    agreement = v.get("agreement")
    return [
        v["name"],
        v["role"],
        str(v["requests"]),
        f"{rate['value']:.2%}" if rate else "",
        _ms(v["latency_ms"]["p50"]),
        _ms(v["latency_ms"]["p99"]),
        "" if agreement is None else f"{agreement:.1%}",
        "" if not value else f"{value['value']:.4g} [{value['ci_low']:.4g}, {value['ci_high']}]",
        "" if not versus else f"{versus['verdict']} (p={versus['p_value']:.3g})",
    ]


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _part(text: str, option: str, number: str) -> dict[str, Any]:
    name, sep, rest = text.partition("=")
    if not sep or not name or not rest:
        raise fail(f"{option} {text!r}: expected NAME=MODEL_REF[,{number.upper()}]", 2)
    ref, comma, amount = rest.partition(",")
    part: dict[str, Any] = {"name": name, "model": ref}
    if comma:
        try:
            part[number] = float(amount)
        except ValueError:
            raise fail(f"{option} {text!r}: {number} {amount!r} is not a number", 2) from None
    return part


def _read_policy(path: Path) -> Any:
    try:
        text = path.read_text()
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror}", 2) from None
    try:
        return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise fail(
            f"{path} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}", 2
        ) from None
