"""`evergreen models ...`: the registry."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from evergreen.cli.context import context
from evergreen.cli.output import JsonFlag, console, handle_errors, print_json, print_table
from evergreen.errors import InvalidInput
from evergreen.registry import STAGES, audit_dict, version_dict

app = typer.Typer(help="Registered models and their versions.", no_args_is_help=True)


@app.command("list")
@handle_errors
def list_models(json_out: JsonFlag = False) -> None:
    """List models with their latest and production versions."""
    registry = context().registry
    rows = []
    for model in registry.list_models():
        versions = registry.versions(model.name)
        production = next((v.version for v in versions if v.stage == "production"), None)
        rows.append(
            {
                "name": model.name,
                "task": model.task,
                "target": model.target,
                "versions": len(versions),
                "latest": versions[-1].version if versions else None,
                "production": production,
                "created_at": model.created_at.isoformat(),
            }
        )
    if json_out:
        print_json(rows)
        return
    print_table(
        "models",
        ["name", "task", "versions", "latest", "production"],
        [(r["name"], r["task"], r["versions"], r["latest"], r["production"]) for r in rows],
    )


@app.command()
@handle_errors
def show(name: str, json_out: JsonFlag = False) -> None:
    """Show a model's versions: stage, metrics, data and gate verdict."""
    registry = context().registry
    model = registry.get_model(name)
    versions = registry.versions(name)
    if json_out:
        print_json(
            {
                "name": model.name,
                "task": model.task,
                "target": model.target,
                "created_at": model.created_at.isoformat(),
                "versions": [version_dict(name, v) for v in versions],
            }
        )
        return
    print_table(
        f"{name} ({model.task}, target {model.target})",
        ["version", "stage", "created", "metrics", "dataset", "gate"],
        [
            (
                v.version,
                v.stage,
                f"{v.created_at:%Y-%m-%d %H:%M:%S}",
                ", ".join(
                    f"{k}={val:.4g}" if isinstance(val, float) else f"{k}={val}"
                    for k, val in v.metrics.items()
                ),
                v.dataset_version_id,
                "passed" if v.gate.get("passed") else ("failed" if v.gate else ""),
            )
            for v in versions
        ],
    )


@app.command()
@handle_errors
def promote(
    name: str,
    version: int,
    stage: Annotated[str, typer.Option(help=f"One of: {', '.join(STAGES)}.")],
    reason: Annotated[str, typer.Option(help="Why; kept in the audit log.")] = "",
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Promote to production without the evidence (needs --reason)."
        ),
    ] = False,
    json_out: JsonFlag = False,
) -> None:
    """Move a version to a stage; promoting to production archives the previous one.

    Production needs the version's evidence: a passing gate verdict, a passing data validation
    and the approvals the model asks for. --force --reason TEXT overrides, and the audit log
    records the override.
    """
    ctx = context()
    row = ctx.registry.promote(
        name, version, stage, actor=ctx.settings.actor, reason=reason, force=force
    )
    if json_out:
        print_json(version_dict(name, row))
    else:
        console.print(f"{name} version {row.version} is now in {row.stage}", highlight=False)


@app.command()
@handle_errors
def evidence(name: str, version: int, json_out: JsonFlag = False) -> None:
    """Show what VERSION has for production: gate, data validation, approvals."""
    found = context().registry.evidence(name, version)
    if json_out:
        print_json(found.to_dict())
        return
    console.print(f"gate: {'passed' if found.gate_passed else 'not passed'}", highlight=False)
    console.print(
        f"data validation: {'passed' if found.validation_passed else 'not passed'}",
        highlight=False,
    )
    if found.approvals_required or found.approvers:
        console.print(
            f"approvals: {len(found.approvals)} of {found.approvals_required} required "
            f"({', '.join(found.approvals) or 'none yet'})",
            highlight=False,
        )
    verdict = "ready for production" if found.complete else "missing: " + "; ".join(found.missing)
    console.print(verdict, highlight=False, markup=False)


@app.command()
@handle_errors
def configure(
    name: str,
    approver: Annotated[
        list[str] | None,
        typer.Option(help="Who may approve promotions to production (repeat; replaces the list)."),
    ] = None,
    required_approvals: Annotated[
        int | None, typer.Option(help="How many approvers must approve.")
    ] = None,
    owner: Annotated[str | None, typer.Option(help="The owning person or team.")] = None,
    description: Annotated[str | None, typer.Option(help="What the model is for.")] = None,
    reason: Annotated[str, typer.Option(help="Why; kept in the audit log.")] = "",
) -> None:
    """Set a model's owner, description and approvers."""
    ctx = context()
    model = ctx.registry.configure(
        name,
        actor=ctx.settings.actor,
        approvers=approver,
        required_approvals=required_approvals,
        owner=owner,
        description=description,
        reason=reason,
    )
    console.print(
        f"{name}: owner {model.owner or '-'}; approvers {', '.join(model.approvers) or 'none'}; "
        f"{model.required_approvals} approval(s) required",
        highlight=False,
    )


@app.command()
@handle_errors
def approve(
    name: str,
    version: int,
    reject: Annotated[bool, typer.Option("--reject", help="Record a rejection.")] = False,
    comment: Annotated[str, typer.Option(help="Kept with the decision.")] = "",
    approver: Annotated[
        str | None, typer.Option("--as", help="The approver (default: EVERGREEN_ACTOR).")
    ] = None,
) -> None:
    """Approve (or --reject) VERSION for production, as one of the model's approvers."""
    ctx = context()
    who = approver or ctx.settings.actor
    decision = "reject" if reject else "approve"
    ctx.registry.approve(name, version, who, decision=decision, comment=comment)
    console.print(f"{who}: {decision} {name} version {version}", highlight=False)


@app.command()
@handle_errors
def alias(
    name: str,
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS")],
    version: Annotated[int | None, typer.Argument(help="The version it points at.")] = None,
    remove: Annotated[bool, typer.Option("--remove", help="Delete the alias.")] = False,
    reason: Annotated[str, typer.Option(help="Why; kept in the audit log.")] = "",
) -> None:
    """Point ALIAS (champion, challenger, ...) at VERSION; NAME@ALIAS then resolves to it."""
    ctx = context()
    if remove:
        ctx.registry.remove_alias(name, alias_name, actor=ctx.settings.actor, reason=reason)
        console.print(f"removed {name}@{alias_name}", highlight=False)
        return
    if version is None:
        raise InvalidInput("give the VERSION the alias points at, or --remove")
    ctx.registry.set_alias(name, alias_name, version, actor=ctx.settings.actor, reason=reason)
    console.print(f"{name}@{alias_name} → version {version}", highlight=False)


AUDIT_FIELDS = (
    "id",
    "at",
    "actor",
    "action",
    "subject",
    "from_state",
    "to_state",
    "reason",
    "details",
)


@app.command()
@handle_errors
def audit(
    name: Annotated[str | None, typer.Argument(help="One model (default: all).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file.")
    ] = None,
) -> None:
    """Export the append-only audit log: who changed what, when, from/to, why, evidence."""
    if fmt not in ("table", "json", "csv"):
        raise InvalidInput(f"unknown format {fmt!r}; use table, json or csv")
    registry = context().registry
    if name is not None:
        registry.get_model(name)
    events = registry.audit_log(name)
    records = [audit_dict(e) for e in events]
    if fmt == "table" and output is None:
        print_table(
            "audit log",
            ["at", "actor", "action", "subject", "from → to", "reason"],
            [
                (
                    r["at"],
                    r["actor"],
                    r["action"],
                    r["subject"],
                    f"{r['from_state'] or ''} → {r['to_state'] or ''}",
                    r["reason"],
                )
                for r in records
            ],
        )
        return
    text = _as_csv(records) if fmt == "csv" else json.dumps(records, indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
        console.print(f"wrote {len(records)} events to {output}", highlight=False)


def _as_csv(records: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=AUDIT_FIELDS, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({**record, "details": json.dumps(record["details"], sort_keys=True)})
    return buffer.getvalue()


@app.command()
@handle_errors
def lineage(name: str, version: int, json_out: JsonFlag = False) -> None:
    """Where VERSION came from: its run and steps, trigger and evidence, data and code."""
    from evergreen.registry.lineage import model_lineage

    ctx = context()
    record = model_lineage(ctx.registry, ctx.runs, ctx.events, ctx.datasets, name, version)
    if json_out:
        print_json(record)
        return
    console.print(f"{name} version {version} ({record['stage']})", highlight=False)
    run = record["run"]
    if run is not None:
        steps = ", ".join(f"{s['name']} {s['status']}" for s in run["steps"])
        console.print(f"run {run['id']} {run['status']}: {steps}", highlight=False)
    trigger = record["trigger"]
    if trigger is not None:
        console.print(
            f"trigger: {trigger['kind']} — {trigger['reason']}", highlight=False, markup=False
        )
    dataset = record["dataset"]
    if dataset is not None:
        console.print(
            f"data: {dataset['id']} ({dataset['rows']} rows from {dataset['source']})",
            highlight=False,
            markup=False,
        )
    code = record["code_version"]
    if code:
        dirty = " + uncommitted changes" if code.get("dirty") else ""
        console.print(f"code: {code.get('git_commit') or 'not in git'}{dirty}", highlight=False)


@app.command("import")
@handle_errors
def import_(
    name: str,
    path: Annotated[
        Path, typer.Argument(help="A .skops/.joblib/.onnx file or an MLflow model folder.")
    ],
    flavor: Annotated[str, typer.Option(help="The model's flavor: sklearn or onnx.")] = "sklearn",
    signature: Annotated[
        Path | None, typer.Option(help="A signature JSON file (inputs, output, task).")
    ] = None,
    trust_pickle: Annotated[
        bool, typer.Option("--trust-pickle", help="Allow loading a pickle (runs its code).")
    ] = False,
    description: Annotated[str, typer.Option(help="What the model is.")] = "",
    json_out: JsonFlag = False,
) -> None:
    """Register a model trained elsewhere as the next version of NAME (scikit-learn models are
    stored as skops, ONNX graphs as they are)."""
    from evergreen.registry.importing import import_model, read_signature

    ctx = context()
    row = import_model(
        ctx.registry,
        name,
        path,
        flavor=flavor,
        actor=ctx.settings.actor,
        signature=read_signature(signature) if signature is not None else None,
        trust_pickle=trust_pickle,
        description=description,
    )
    if json_out:
        print_json(version_dict(name, row))
    else:
        console.print(
            f"imported {path} as {name} version {row.version} "
            f"({len(row.signature['inputs'])} inputs, {row.signature['task']})",
            highlight=False,
        )
