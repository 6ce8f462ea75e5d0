"""`evergreen models ...`: the registry."""

from __future__ import annotations

from typing import Annotated

import typer

from evergreen.cli.context import context
from evergreen.cli.output import console, handle_errors, print_json, print_table
from evergreen.registry import STAGES, version_dict

app = typer.Typer(help="Registered models and their versions.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


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
    json_out: JsonFlag = False,
) -> None:
    """Move a version to a stage; promoting to production archives the previous one."""
    row = context().registry.promote(name, version, stage, actor="cli", reason=reason)
    if json_out:
        print_json(version_dict(name, row))
    else:
        console.print(f"{name} version {row.version} is now in {row.stage}", highlight=False)
