"""The `evergreen` command."""

from __future__ import annotations

import gc
import logging
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from evergreen import bootstrap
from evergreen.cli import alerts, backtest, control, data, endpoints, models, monitor, runs
from evergreen.cli import data_checks as data_checks  # registers `data schema|validate|drift`
from evergreen.cli.context import context
from evergreen.cli.output import JsonFlag, console, fail, handle_errors, print_json


class _Cli(typer.Typer):
    """The command line as the ``evergreen`` executable runs it (tests call the commands
    through Typer's runner, which does not come here)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # What is imported by now lives as long as the process: freezing it keeps the cyclic
        # garbage collector from walking it again during the command and once more at exit
        # (about 0.3 s of a 1.5 s re-snapshot of 10,000 unchanged files).
        gc.freeze()
        if kwargs.get("standalone_mode", True) is False:
            return super().__call__(*args, **kwargs)
        try:  # Click's own handling of its errors (a boxed usage error) replaced by ours
            code = super().__call__(*args, **{**kwargs, "standalone_mode": False})
        except typer.Abort:
            fail("aborted")
            sys.exit(1)
        except Exception as exc:
            # Typer vendors Click (``typer._click``), older releases use Click itself: the
            # classes are told by name, which both give them
            kinds = {kind.__name__ for kind in type(exc).__mro__}
            if "ClickException" not in kinds:
                raise
            code = exc.exit_code  # type: ignore[attr-defined]
            if "NoArgsIsHelpError" in kinds:  # the help is printed already
                sys.exit(code)
            if "UsageError" in kinds:  # a bad option or argument: one line
                context = getattr(exc, "ctx", None)
                where = f"; see `{context.command_path} --help`" if context is not None else ""
                message = exc.format_message().rstrip(".")  # type: ignore[attr-defined]
                fail(f"{message}{where}")
            else:
                exc.show()  # type: ignore[attr-defined]
            sys.exit(code)
        sys.exit(code if isinstance(code, int) else 0)  # an int: the code of a typer.Exit


app = _Cli(
    help="evergreen keeps models fresh: versioned data, validation, training, registry, "
    "serving, monitoring and automatic retraining.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(data.app, name="data")
app.add_typer(models.app, name="models")
app.add_typer(runs.app, name="runs")
app.add_typer(endpoints.app, name="endpoints")
app.add_typer(monitor.app, name="monitor")
app.add_typer(alerts.app, name="alerts")
app.add_typer(control.events_app, name="events")
app.add_typer(control.rollouts_app, name="rollouts")
app.command(name="controller")(control.controller)
app.add_typer(runs.pipeline_app, name="pipeline")
app.command(name="backtest")(backtest.backtest)
db_app = typer.Typer(help="The metadata database.", no_args_is_help=True)
app.add_typer(db_app, name="db")

ProjectOption = Annotated[
    Path, typer.Option("--project", "-p", help="Project file defining `project = eg.Project(...)`.")
]


@db_app.command("upgrade")
@handle_errors
def db_upgrade() -> None:
    """Create or upgrade the metadata database schema."""
    db = context().db
    db.upgrade()
    console.print(f"database at revision {db.current_revision()}", highlight=False)


@app.command()
@handle_errors
def run(
    project_file: Annotated[
        Path | None,
        typer.Option(
            "--project",
            "-p",
            help="Project file defining `project = eg.Project(...)` (with --resume: default "
            "the one the run recorded).",
        ),
    ] = None,
    data_path: Annotated[
        str | None,
        typer.Option("--data", help="Train on this path instead of the project's source."),
    ] = None,
    resume: Annotated[
        str | None,
        typer.Option(
            "--resume",
            help="Go on from this failed run: same data version; its finished steps are reused.",
        ),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Run every step again; reuse nothing.")
    ] = False,
    json_out: JsonFlag = False,
) -> None:
    """Run the pipeline: ingest, validate, prepare, split, train, evaluate, gate, register,
    promote. Steps whose inputs, code and parameters are unchanged are reused."""
    from evergreen.cli.progress import TrialProgress
    from evergreen.pipeline.project import load_project

    ctx = context()
    if project_file is None:
        if resume is None:
            raise fail("give the project file with --project FILE", 2)
        project_file = _recorded_project_file(ctx, resume)
    if resume is not None and data_path is not None:
        raise fail("--resume keeps the failed run's data version; drop --data", 2)
    project = load_project(project_file)
    runner = bootstrap.pipeline_runner(ctx)
    with TrialProgress(enabled=not json_out) as trials:
        result = runner.run(
            project,
            source=data_path,
            progress=None if json_out else trials.say,
            on_trial=trials.update,
            resume=resume,
            use_cache=not no_cache,
        )
    if json_out:
        print_json(result.to_dict())
    if result.status != "succeeded":
        step = f" in step {result.failed_step}" if result.failed_step else ""
        hint = f" (fix it, then: evergreen run --resume {result.run_id})"
        raise fail(f"run {result.run_id} failed{step}: {result.error}{hint}", 1)


def _recorded_project_file(ctx: Any, run_id: str) -> Path:
    run = ctx.runs.get_run(run_id)
    if run is None:
        raise fail(f"no pipeline run {run_id!r}; see `evergreen runs list`", 3)
    recorded = run.params.get("project_file")
    if not recorded:
        raise fail(f"run {run_id} recorded no project file; give it with --project FILE", 2)
    return Path(recorded)


@app.command()
@handle_errors
def reproduce(
    name: str,
    version: int,
    project_file: Annotated[
        Path | None,
        typer.Option("--project", "-p", help="Project file (default: the one the run recorded)."),
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Train VERSION again from its recorded data and split; exit 1 unless identical."""
    from evergreen.pipeline.project import load_project
    from evergreen.pipeline.reproduce import reproduce as reproduce_version

    ctx = context()
    if project_file is None:
        row = ctx.registry.get_version(name, version)
        run = ctx.runs.get_run(row.run_id) if row.run_id else None
        recorded = run.params.get("project_file") if run is not None else None
        if not recorded:
            raise fail(f"{name}:{version}'s run recorded no project file; pass --project FILE", 2)
        project_file = Path(recorded)
    project = load_project(project_file)
    result = reproduce_version(bootstrap.pipeline_runner(ctx), project, name, version)
    if json_out:
        print_json(result.to_dict())
    else:
        same = {True: "identical", False: "DIFFERENT"}
        console.print(
            f"{name}:{version} on {result.dataset_version}: {result.metric} recorded "
            f"{result.recorded:.6g}, reproduced {result.reproduced:.6g} "
            f"({same[result.metrics_identical]}); "
            f"predictions {same[result.predictions_identical]}; "
            f"artifact {same[result.artifact_identical]}",
            highlight=False,
        )
        if result.packages_changed:
            changes = ", ".join(f"{k} {a} → {b}" for k, (a, b) in result.packages_changed.items())
            console.print(f"packages changed since: {changes}", highlight=False)
        if result.code_then.get("git_commit") != result.code_now.get("git_commit"):
            console.print("the code changed since (another git commit)", highlight=False)
    if not result.identical:
        raise typer.Exit(1)


@app.command()
@handle_errors
def trigger(
    project_file: ProjectOption,
    reason: Annotated[str, typer.Option(help="Why; recorded with the run.")] = "manual trigger",
) -> None:
    """Ask for a retrain: queue a manual trigger event for the controller (`evergreen up`)."""
    from evergreen.pipeline.project import load_project

    project = load_project(project_file)
    controller = bootstrap.controller(context(), {project.name: project})
    event, new = controller.trigger(project.name, "manual", reason)
    console.print(
        f"queued {event.id}" if new else f"a retrain is already queued: {event.id}", highlight=False
    )


@app.command()
@handle_errors
def serve(
    port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    poll: Annotated[float, typer.Option(help="Seconds between registry checks.")] = 1.0,
    workers: Annotated[
        int, typer.Option(min=1, help="Gateway processes sharing the port (one per core).")
    ] = 1,
    max_batch_rows: Annotated[
        int, typer.Option(min=1, help="Rows per model call when batching; 1 turns it off.")
    ] = 1024,
    max_wait_ms: Annotated[
        float,
        typer.Option(min=0.0, help="Extra wait for a fuller batch (0: batch what is queued)."),
    ] = 0.0,
    latency_target_ms: Annotated[
        float, typer.Option(min=0.0, help="Upper bound on time a request waits for a batch.")
    ] = 50.0,
    onnx: Annotated[
        bool, typer.Option(help="Serve verified ONNX exports with ONNX Runtime.")
    ] = True,
    grpc_port: Annotated[
        int | None,
        typer.Option(help="Also serve V2 over gRPC on this port (needs evergreen[grpc])."),
    ] = None,
    default_endpoint: Annotated[
        str | None,
        typer.Option(help="Endpoint MLflow's /invocations answers for; default: the only one."),
    ] = None,
    max_body_bytes: Annotated[
        int, typer.Option(min=1, help="Largest request body accepted (413 above it).")
    ] = 64 * 1024 * 1024,
    access_log: Annotated[
        bool, typer.Option(help="Write one JSON line per request to stdout.")
    ] = True,
    shadow_busy_share: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Most of the requests a shadow gets while the gateway is short of CPU "
            "(1: every one, whatever the load).",
        ),
    ] = 0.1,
) -> None:
    """Serve every endpoint: models by production version, stored A/B/n and shadow policies
    (Open Inference Protocol V2, MLflow scoring; V2 gRPC with --grpc-port), following the
    registry without restarts. Set EVERGREEN_INFERENCE_TOKEN to require a bearer token on
    inference."""
    import os

    from evergreen.serving.app import GatewayConfig
    from evergreen.serving.batching import BatchingSpec
    from evergreen.serving.server import serve as run_server
    from evergreen.serving.server import serve_workers

    config = GatewayConfig(
        poll_interval=poll,
        batching=BatchingSpec(
            max_batch_rows=max_batch_rows,
            max_wait=max_wait_ms / 1000.0,
            latency_target=latency_target_ms / 1000.0,
        ),
        onnx=onnx,
        grpc_port=grpc_port,
        grpc_host=host,
        default_endpoint=default_endpoint,
        max_body_bytes=max_body_bytes,
        access_log=access_log,
        shadow_busy_share=shadow_busy_share,
    )
    if grpc_port is not None:
        from evergreen.serving.protocols.v2_grpc import check_installed

        check_installed()  # one line now, rather than from every worker
    if workers > 1:
        os.environ[bootstrap.GATEWAY_CONFIG_ENV] = config.to_json()
        serve_workers("evergreen.bootstrap:gateway_from_environment", workers, host=host, port=port)
        return
    app = bootstrap.gateway_app(context(), config=config)
    run_server(app, host=host, port=port, access_log=access_log)


@app.command()
@handle_errors
def up(
    project_file: ProjectOption,
    data_path: Annotated[
        str | None,
        typer.Option(
            "--data", help="Watch and train on this path instead of the project's source."
        ),
    ] = None,
    port: Annotated[int, typer.Option(help="Gateway TCP port.")] = 8080,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    interval: Annotated[float, typer.Option(help="Seconds between monitor passes.")] = 2.0,
) -> None:
    """Start the gateway, the monitor and the controller together."""
    from evergreen.pipeline.project import load_project
    from evergreen.serving.server import serve as run_server

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    project = load_project(project_file)
    if data_path is not None:
        project.source = str(Path(data_path).resolve())
    ctx = context()
    service = bootstrap.service(ctx, {project.name: project}, interval=interval)
    stop = threading.Event()
    loop = threading.Thread(target=service.run, args=(stop,), kwargs={"progress": say}, daemon=True)
    loop.start()
    console.print(
        f"evergreen up: gateway on http://{host}:{port}, monitoring {project.name} every "
        f"{interval:g}s",
        highlight=False,
    )
    try:
        run_server(bootstrap.gateway_app(ctx), host=host, port=port)
    finally:
        stop.set()
        loop.join(timeout=30)


@app.command()
@handle_errors
def demo(
    batches: Annotated[
        int | None, typer.Option(help="Replay only this many weekly batches.")
    ] = None,
    home: Annotated[Path, typer.Option(help="Where the demo keeps its state.")] = Path(
        ".evergreen/demo"
    ),
    json_out: JsonFlag = False,
) -> None:
    """Replay the bike-sharing data through the whole loop and summarise what happened."""
    from evergreen.demo import run_demo

    summary = run_demo(home=home, batches=batches, say=None if json_out else say)
    if json_out:
        print_json(summary)


def say(message: str) -> None:
    """Print a progress line as is: no wrapping, no highlighting."""
    console.print(message, soft_wrap=True, highlight=False, markup=False)


def main() -> None:  # pragma: no cover - console entry point
    app()
