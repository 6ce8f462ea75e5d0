"""Serving throughput and latency: the evergreen gateway vs MLflow, MLServer, a minimal FastAPI app.

Two scikit-learn models on a 30-feature table (5,000 rows from ``make_classification``, seed 0):
``lr``, ``LogisticRegression(max_iter=1000)``, and ``rf``, a 100-tree ``RandomForestClassifier``
(``n_jobs=1``). Every server predicts with the same fitted objects (joblib-pickled, the same
scikit-learn in every environment):

- ``evergreen``: the real command, ``evergreen serve`` (see :func:`gateway_command`), on a fresh
  ``EVERGREEN_HOME`` where both models were registered and promoted to production through the
  Python API. Open Inference Protocol V2, one 2-D ``FP64`` tensor.
- ``mlserver``: ``mlserver start`` with ``mlserver_sklearn.SKLearnModel`` (V2, the same body), in
  ``.bench/mlserver``.
- ``fastapi``: ``benchmarks/serving_competitors/fastapi_app.py`` under uvicorn in the project's
  environment: an ``async def`` handler calling ``model.predict`` (V2, the same body).
- ``mlflow``: ``mlflow models serve --env-manager local`` per model (``/invocations``, a
  ``dataframe_split`` body with the same values), in ``.bench/mlflow``.

All servers are started (own process groups, loopback, free ports) and checked with one real
request per model before any load; only one is ever under load. The load generator is ``wrk``
(one thread, ``-c`` clients, keep-alive) with a Lua script that posts the body and prints
p50/p99/max latency and error counts (socket errors and non-2xx) as JSON. For each model, rows
per request and client count, every server gets a warm-up run, then ``--reps`` runs of
``--duration`` seconds, the servers taking turns within each repetition; the tables show
medians over repetitions (max latency: the largest of all runs; errors: the sum).

Run with ``python -m benchmarks serving [--only evergreen,mlflow] [--models lr,rf]
[--rows 1,100] [--connections 1,64] [--duration 10] [--reps 3] [--json OUT]``; set the
competitors up once with ``python -m benchmarks serving --setup`` (needs ``uv``; installs into
``.bench/``, never the project's environment).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import workdir

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / ".bench"
COMPETITORS = Path(__file__).resolve().parent / "serving_competitors"
HOST = "127.0.0.1"
FEATURES = 30
ROWS = 5000
SERVERS = ("evergreen", "mlserver", "fastapi", "mlflow")
MODELS = ("lr", "rf")
READY_TIMEOUT = 180.0
WARMUP = 2
# the targets: evergreen's req/s over each competitor's, at 64 clients
TARGETS = {("mlflow", "lr"): 5.0, ("mlflow", "rf"): 5.0, ("mlserver", "lr"): 1.5}
TARGETS[("mlserver", "rf")] = 2.0
# MLServer 1.7.1's inference workers die at start with uvloop >= 0.22 ("There is no current event
# loop in thread 'MainThread'", from asyncio.get_event_loop() in worker._ignore_signals)
COMPETITOR_PACKAGES = {
    "mlflow": ["mlflow", "pandas"],
    "mlserver": ["mlserver", "mlserver-sklearn", "uvloop<0.22"],
}

WRK_SCRIPT = """
local file = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, '
    .. '"status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


def gateway_command(port: int) -> list[str]:
    """The evergreen gateway's command line: change it here when ``serve`` gains options."""
    evergreen = Path(sys.executable).parent / "evergreen"
    return [str(evergreen), "serve", "--host", HOST, "--port", str(port)]


# -- options ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    servers: tuple[str, ...]
    models: tuple[str, ...]
    rows: tuple[int, ...]
    connections: tuple[int, ...]
    duration: int
    reps: int
    json_out: Path | None
    setup: bool
    report: Path | None


def parse_options(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(prog="python -m benchmarks serving", description=__doc__)
    parser.add_argument("--only", default=",".join(SERVERS), help="servers, comma-separated")
    parser.add_argument("--models", default=",".join(MODELS), help="lr and/or rf")
    parser.add_argument("--rows", default="1,100", help="rows per request, comma-separated")
    parser.add_argument("--connections", default="1,64", help="concurrent clients")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--reps", type=int, default=3, help="repetitions (medians reported)")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    parser.add_argument("--setup", action="store_true", help="install the competitors first")
    parser.add_argument(
        "--report", type=Path, default=None, help="print a --json file's tables (and Markdown)"
    )
    args = parser.parse_args(argv)
    options = Options(
        servers=_choices(args.only, SERVERS, "--only"),
        models=_choices(args.models, MODELS, "--models"),
        rows=_integers(args.rows, "--rows"),
        connections=_integers(args.connections, "--connections"),
        duration=args.duration,
        reps=args.reps,
        json_out=args.json,
        setup=args.setup,
        report=args.report,
    )
    if options.duration < 1 or options.reps < 1:
        parser.error("--duration and --reps must be at least 1")
    return options


def _choices(text: str, allowed: tuple[str, ...], flag: str) -> tuple[str, ...]:
    chosen = tuple(item.strip() for item in text.split(",") if item.strip())
    unknown = [item for item in chosen if item not in allowed]
    if unknown or not chosen:
        raise SystemExit(f"{flag}: unknown or missing {unknown}; choose from {', '.join(allowed)}")
    return chosen


def _integers(text: str, flag: str) -> tuple[int, ...]:
    try:
        values = tuple(int(item) for item in text.split(","))
    except ValueError:
        raise SystemExit(f"{flag}: expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise SystemExit(f"{flag}: every value must be at least 1, got {text!r}")
    return values


# -- competitors' environments ------------------------------------------------------------------


def competitor_python(name: str) -> Path:
    return BENCH / name / "bin" / "python"


def competitor_env(name: str) -> dict[str, str]:
    """As if the venv were activated: ``mlflow models serve`` execs ``uvicorn`` from ``PATH``."""
    return {"PATH": f"{BENCH / name / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}


def setup_competitors(names: tuple[str, ...]) -> None:
    """Create ``.bench/NAME`` with uv and install the competitor there (scikit-learn pinned)."""
    import sklearn

    uv = shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    for name in names:
        if name not in COMPETITOR_PACKAGES:
            continue
        venv = BENCH / name
        packages = [*COMPETITOR_PACKAGES[name], f"scikit-learn=={sklearn.__version__}"]
        print(f"  setting up {venv} ({' '.join(packages)})", flush=True)
        if not venv.exists():
            subprocess.run([uv, "venv", str(venv), "--python", "3.11"], check=True)
        install = [uv, "pip", "install", "--python", str(competitor_python(name)), *packages]
        subprocess.run(install, check=True)


def available_servers(wanted: tuple[str, ...]) -> tuple[str, ...]:
    """The requested servers whose environment exists; the others are named and skipped."""
    missing = [n for n in wanted if n in COMPETITOR_PACKAGES and not competitor_python(n).exists()]
    for name in missing:
        print(
            f"  skipping {name}: {competitor_python(name)} is missing; "
            "run `python -m benchmarks serving --setup` to install it",
            flush=True,
        )
    return tuple(n for n in wanted if n not in missing)


def tool_versions(servers: tuple[str, ...]) -> dict[str, str]:
    import sklearn

    versions = {"python": platform.python_version(), "scikit-learn": sklearn.__version__}
    for name in servers:
        if name in COMPETITOR_PACKAGES:
            code = f"import importlib.metadata as m; print(m.version({name!r}))"
            out = subprocess.run(
                [str(competitor_python(name)), "-c", code], capture_output=True, text=True
            )
            versions[name] = out.stdout.strip() or "?"
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    versions["wrk"] = (wrk.stdout or wrk.stderr).split("[")[0].replace("wrk", "").strip()
    return versions


# -- data and models ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    columns: list[str]
    rows: list[list[float]]  # requests take their rows from here, always the first N
    model_files: dict[str, Path]
    fitted: dict[str, Any]
    frame: Any  # pandas.DataFrame of the training table
    target: Any  # pandas.Series


def build_workload(root: Path, models: tuple[str, ...]) -> Workload:
    import joblib
    import pandas as pd
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    x, y = make_classification(
        n_samples=ROWS, n_features=FEATURES, n_informative=10, random_state=0
    )
    columns = [f"f{i}" for i in range(FEATURES)]
    frame = pd.DataFrame(x, columns=columns)
    target = pd.Series(y, name="label")
    estimators: dict[str, Any] = {
        "lr": LogisticRegression(max_iter=1000),
        "rf": RandomForestClassifier(n_estimators=100, n_jobs=1, random_state=0),
    }
    fitted = {name: estimators[name].fit(frame, target) for name in models}
    files = {}
    for name, model in fitted.items():
        files[name] = root / f"{name}.joblib"
        joblib.dump(model, files[name])
    return Workload(columns, x[:100].tolist(), files, fitted, frame, target)


def v2_body(workload: Workload, rows: int) -> bytes:
    data = [value for row in workload.rows[:rows] for value in row]
    tensor = {"name": "input-0", "shape": [rows, FEATURES], "datatype": "FP64", "data": data}
    return json.dumps({"inputs": [tensor]}).encode()


def mlflow_body(workload: Workload, rows: int) -> bytes:
    split = {"columns": workload.columns, "data": workload.rows[:rows]}
    return json.dumps({"dataframe_split": split}).encode()


def predictions_in(server: str, response: Any) -> int:
    """How many predictions a server's response carries."""
    if server == "mlflow":
        return len(response["predictions"])
    return int(response["outputs"][0]["shape"][0])


# -- servers ------------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    urls: dict[str, str]  # model -> the URL to POST to
    body: Callable[[Workload, int], bytes]
    log: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def spawn(
    server: Server, command: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT
) -> None:
    """Start ``command`` in its own process group, its output appended to the server's log."""
    with server.log.open("ab") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
        )
    server.processes.append(process)


def stop(server: Server) -> None:
    """SIGTERM each process group, then SIGKILL what is left after 10 s."""
    for process in server.processes:
        _signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for process in server.processes:
        with suppress(subprocess.TimeoutExpired):
            process.wait(max(0.1, deadline - time.monotonic()))
        _signal_group(process, signal.SIGKILL)
        process.wait()


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.pid, sig)  # the group we created: start_new_session=True


def v2_urls(port: int, models: tuple[str, ...]) -> dict[str, str]:
    return {m: f"http://{HOST}:{port}/v2/models/{m}/infer" for m in models}


def start_evergreen(work: Path, workload: Workload, models: tuple[str, ...]) -> Server:
    home = work / "evergreen-home"
    publish_models(home, workload, models)
    port = free_port()
    server = Server("evergreen", v2_urls(port, models), v2_body, work / "evergreen.log")
    env = {"EVERGREEN_HOME": str(home), "PYTHONPATH": str(ROOT / "src")}
    spawn(server, gateway_command(port), env, cwd=work)
    return server


def publish_models(home: Path, workload: Workload, models: tuple[str, ...]) -> None:
    """Register each model in a fresh home and promote it to production (forced, with reason)."""
    from evergreen.bootstrap import build
    from evergreen.flavors import Signature
    from evergreen.settings import Settings

    ctx = build(Settings(home=home))
    try:
        signature = Signature.infer(workload.frame, workload.target, "classification")
        for name in models:
            ctx.registry.ensure_model(name, task="classification", target="label", actor="bench")
            row = ctx.registry.register(
                name, workload.fitted[name], flavor="sklearn", signature=signature, actor="bench"
            )
            ctx.registry.promote(
                name, row.version, "production", actor="bench", reason="benchmark", force=True
            )
    finally:
        ctx.close()


def start_mlserver(work: Path, workload: Workload, models: tuple[str, ...]) -> Server:
    http, grpc, metrics = free_port(), free_port(), free_port()
    server = Server("mlserver", v2_urls(http, models), v2_body, work / "mlserver.log")
    script = COMPETITORS / "mlserver_server.py"
    files = [f"{m}={workload.model_files[m]}" for m in models]
    ports = [str(http), str(grpc), str(metrics)]
    command = [str(competitor_python("mlserver")), str(script), str(work / "mlserver-repo")]
    spawn(server, [*command, *ports, *files], competitor_env("mlserver"), cwd=work)
    return server


def start_fastapi(work: Path, workload: Workload, models: tuple[str, ...]) -> Server:
    port = free_port()
    server = Server("fastapi", v2_urls(port, models), v2_body, work / "fastapi.log")
    app = "benchmarks.serving_competitors.fastapi_app:app"
    command = [sys.executable, "-m", "uvicorn", app, "--host", HOST, "--port", str(port)]
    models_env = ",".join(f"{m}={workload.model_files[m]}" for m in models)
    spawn(server, [*command, "--log-level", "warning"], {"BENCH_MODELS": models_env})
    return server


def start_mlflow(work: Path, workload: Workload, models: tuple[str, ...]) -> Server:
    server = Server("mlflow", {}, mlflow_body, work / "mlflow.log")
    for model in models:
        port = free_port()
        server.urls[model] = f"http://{HOST}:{port}/invocations"
        script = COMPETITORS / "mlflow_server.py"
        args = [str(workload.model_files[model]), str(work / f"mlflow-{model}"), str(port)]
        command = [str(competitor_python("mlflow")), str(script), *args]
        spawn(server, command, competitor_env("mlflow"), cwd=work)
    return server


STARTERS: dict[str, Callable[[Path, Workload, tuple[str, ...]], Server]] = {
    "evergreen": start_evergreen,
    "mlserver": start_mlserver,
    "fastapi": start_fastapi,
    "mlflow": start_mlflow,
}


def wait_ready(server: Server, workload: Workload) -> None:
    """Until every model answers a real 1-row request with one prediction (or fail loudly)."""
    deadline = time.monotonic() + READY_TIMEOUT
    for model, url in server.urls.items():
        while True:
            problem = _check(server, url, server.body(workload, 1))
            if problem is None:
                break
            dead = [p.args for p in server.processes if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                tail = server.log.read_text(errors="replace")[-3000:]
                why = "exited" if dead else f"not ready after {READY_TIMEOUT:.0f} s"
                raise RuntimeError(
                    f"{server.name} ({model}) {why}: {problem}\n--- {server.log} (end) ---\n{tail}"
                )
            time.sleep(0.5)


def _check(server: Server, url: str, body: bytes) -> str | None:
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}: {exc.read()[:500]!r}"
    except OSError as exc:
        return str(exc)
    count = predictions_in(server.name, answer)
    return None if count == 1 else f"expected 1 prediction, got {answer!r}"


@contextmanager
def running(names: tuple[str, ...], work: Path, workload: Workload) -> Iterator[list[Server]]:
    """All requested servers, started and checked; stopped (process groups) on the way out."""
    with ExitStack() as stack:
        servers = []
        for name in names:
            print(f"  starting {name}", flush=True)
            server = STARTERS[name](work, workload, tuple(workload.model_files))
            stack.callback(stop, server)
            servers.append(server)
        for server in servers:
            wait_ready(server, workload)
            print(f"  {server.name} ready: {', '.join(server.urls.values())}", flush=True)
        yield servers


# -- load ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    server: str
    model: str
    rows: int
    clients: int
    rep: int
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int  # socket errors (connect, read, write, timeout) and non-2xx answers
    requests: int
    load: float  # the machine's 1-minute load average after the run (shared machine: noise)


def wrk_run(url: str, body: Path, script: Path, clients: int, seconds: int) -> dict[str, Any]:
    command = ["wrk", "-t1", f"-c{clients}", f"-d{seconds}s", "--timeout", "30s", "-s"]
    out = subprocess.run(
        [*command, str(script), url],
        capture_output=True,
        text=True,
        env={**os.environ, "BENCH_BODY": str(body)},
        timeout=seconds + 60,
    )
    for line in out.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            report: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
            return report
    raise RuntimeError(f"wrk printed no report for {url}:\n{out.stdout}\n{out.stderr}")


def measure(
    server: Server, case: tuple[str, int, int], rep: int, files: dict[str, Path], duration: int
) -> Run:
    model, rows, clients = case
    body = files[f"{server.name}-{rows}"]
    report = wrk_run(server.urls[model], body, files["lua"], clients, duration)
    errors = sum(report[k] for k in ("connect", "read", "write", "status", "timeout"))
    return Run(
        server.name,
        model,
        rows,
        clients,
        rep,
        rps=report["requests"] / (report["duration_us"] / 1e6),
        p50_ms=report["p50_us"] / 1000,
        p99_ms=report["p99_us"] / 1000,
        max_ms=report["max_us"] / 1000,
        errors=errors,
        requests=report["requests"],
        load=os.getloadavg()[0],
    )


def write_files(
    work: Path, servers: list[Server], workload: Workload, rows: tuple[int, ...]
) -> dict[str, Path]:
    files = {"lua": work / "report.lua"}
    files["lua"].write_text(WRK_SCRIPT)
    for server in servers:
        for n in rows:
            path = work / f"body-{server.name}-{n}.json"
            path.write_bytes(server.body(workload, n))
            files[f"{server.name}-{n}"] = path
    return files


def load_all(servers: list[Server], options: Options, files: dict[str, Path]) -> list[Run]:
    """Warm up, then ``reps`` repetitions; within each, the servers take turns on every case."""
    cases = [(m, r, c) for m in options.models for r in options.rows for c in options.connections]
    for case in cases:
        for server in servers:
            measure(server, case, -1, files, WARMUP)
    runs = []
    for rep in range(options.reps):
        for case in cases:
            for server in servers:
                run = measure(server, case, rep, files, options.duration)
                runs.append(run)
                print(
                    f"  rep {rep + 1} {run.server:<9} {run.model} rows={run.rows:<3} "
                    f"c={run.clients:<3} {run.rps:8.1f} req/s  p50 {run.p50_ms:7.2f} ms  "
                    f"p99 {run.p99_ms:7.2f} ms  max {run.max_ms:7.1f} ms  errors {run.errors}  "
                    f"load {run.load:.1f}",
                    flush=True,
                )
    return runs


# -- report -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    server: str
    model: str
    rows: int
    clients: int
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    rps_runs: list[float]


def summarize(runs: list[Run]) -> list[Summary]:
    keys = sorted({(r.model, r.rows, r.clients, r.server) for r in runs})
    summaries = []
    for model, rows, clients, server in keys:
        group = [
            r
            for r in runs
            if (r.model, r.rows, r.clients, r.server) == (model, rows, clients, server)
        ]
        summaries.append(
            Summary(
                server,
                model,
                rows,
                clients,
                rps=statistics.median(r.rps for r in group),
                p50_ms=statistics.median(r.p50_ms for r in group),
                p99_ms=statistics.median(r.p99_ms for r in group),
                max_ms=max(r.max_ms for r in group),
                errors=sum(r.errors for r in group),
                rps_runs=[round(r.rps, 1) for r in group],
            )
        )
    return summaries


def print_tables(summaries: list[Summary]) -> None:
    cases = sorted({(s.model, s.rows, s.clients) for s in summaries})
    for model, rows, clients in cases:
        group = {
            s.server: s for s in summaries if (s.model, s.rows, s.clients) == (model, rows, clients)
        }
        print(f"\n  {model}, {rows} row(s) per request, {clients} client(s)")
        print(
            f"  {'server':<10} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
            f"{'errors':>6}  {'eg/this':>7}  runs (req/s)"
        )
        ours = group.get("evergreen")
        for server in SERVERS:
            if server not in group:
                continue
            s = group[server]
            ratio = f"{ours.rps / s.rps:6.2f}x" if ours and s.rps else "      -"
            print(
                f"  {server:<10} {s.rps:8.1f} {s.p50_ms:8.2f} {s.p99_ms:8.2f} {s.max_ms:8.1f} "
                f"{s.errors:6d}  {ratio:>7}  {s.rps_runs}"
            )


def markdown_table(summaries: list[Summary]) -> str:
    """One Markdown table of every case, for RESULTS.md."""
    lines = [
        "| model | rows | clients | server | req/s | p50 ms | p99 ms | max ms | errors "
        "| evergreen / this | req/s per run |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    by = {(s.server, s.model, s.rows, s.clients): s for s in summaries}
    for model, rows, clients in sorted({(s.model, s.rows, s.clients) for s in summaries}):
        ours = by.get(("evergreen", model, rows, clients))
        for server in SERVERS:
            s = by.get((server, model, rows, clients))
            if s is None:
                continue
            ratio = f"{ours.rps / s.rps:.2f}x" if ours and s.rps and server != "evergreen" else ""
            runs = ", ".join(f"{r:.1f}" for r in s.rps_runs)
            lines.append(
                f"| {model} | {rows} | {clients} | {server} | {s.rps:.1f} | {s.p50_ms:.1f} "
                f"| {s.p99_ms:.1f} | {s.max_ms:.0f} | {s.errors} | {ratio} | {runs} |"
            )
    return "\n".join(lines)


def verdicts(summaries: list[Summary]) -> list[str]:
    """The issue's targets, each as one line (only those the measured cases can answer)."""
    by = {(s.server, s.model, s.rows, s.clients): s for s in summaries}
    lines = []
    for (server, model, rows, clients), s in sorted(by.items()):
        if server != "evergreen":
            continue
        if clients == 64:
            for (rival, rival_model), target in sorted(TARGETS.items()):
                other = by.get((rival, model, rows, clients))
                if rival_model == model and other is not None:
                    ratio = s.rps / other.rps
                    lines.append(
                        _verdict(
                            f"{model} rows={rows} c=64 vs {rival}: {ratio:.2f}x (target {target}x)",
                            ratio >= target,
                        )
                    )
            tail = (
                f"p99/p50 {s.p99_ms / s.p50_ms:.2f} (≤ 2), max {s.max_ms:.0f} ms (≤ 2000), "
                f"errors {s.errors}"
            )
            ok = s.p99_ms <= 2 * s.p50_ms and s.max_ms <= 2000 and s.errors == 0
            lines.append(_verdict(f"{model} rows={rows} c=64 tail: {tail}", ok))
        fastapi = by.get(("fastapi", model, rows, clients))
        if clients == 1 and fastapi is not None:
            text = (
                f"{model} rows={rows} c=1 latency: p50 {s.p50_ms:.2f} vs {fastapi.p50_ms:.2f} ms, "
                f"p99 {s.p99_ms:.2f} vs {fastapi.p99_ms:.2f} ms (FastAPI)"
            )
            lines.append(_verdict(text, s.p50_ms <= fastapi.p50_ms and s.p99_ms <= fastapi.p99_ms))
    return lines


def _verdict(text: str, ok: bool) -> str:
    return f"  {'met   ' if ok else 'MISSED'} {text}"


# -- main ---------------------------------------------------------------------------------------


def report(runs: list[Run], *, markdown: bool = False) -> None:
    summaries = summarize(runs)
    print_tables(summaries)
    print("\n  targets (evergreen):")
    for line in verdicts(summaries):
        print(line)
    if markdown:
        print("\n" + markdown_table(summaries))


def main(argv: list[str] | None = None) -> None:
    options = parse_options(argv or [])
    if options.report is not None:
        saved = json.loads(options.report.read_text())
        report([Run(**run) for run in saved["runs"]], markdown=True)
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: `apt-get install -y wrk` (Debian/Ubuntu, as root)")
    if options.setup:
        setup_competitors(options.servers)
    servers = available_servers(options.servers)
    versions = tool_versions(servers)
    started = datetime.now(UTC)
    print(
        f"  {started:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, {options.duration} s x "
        f"{options.reps} reps per case, versions {versions}",
        flush=True,
    )
    with workdir("serving") as tmp:
        work = Path(tmp)
        workload = build_workload(work, options.models)
        with running(servers, work, workload) as live:
            files = write_files(work, live, workload, options.rows)
            runs = load_all(live, options, files)
    report(runs)
    if options.json_out is not None:
        document = {
            "started": started.isoformat(),
            "cores": os.cpu_count(),
            "versions": versions,
            "options": {k: str(v) for k, v in asdict(options).items()},
            "runs": [asdict(r) for r in runs],
            "summary": [asdict(s) for s in summarize(runs)],
        }
        options.json_out.write_text(json.dumps(document, indent=2))
        print(f"  wrote {options.json_out}")


if __name__ == "__main__":
    main(sys.argv[1:])
