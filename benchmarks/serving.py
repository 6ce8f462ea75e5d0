"""Serving throughput and latency: the evergreen gateway vs MLflow, MLServer, a minimal FastAPI app.

Two scikit-learn models on a 30-feature table (5,000 rows from ``make_classification``, seed 0):
``lr``, ``LogisticRegression(max_iter=1000)``, and ``rf``, a 100-tree ``RandomForestClassifier``
(``n_jobs=1``). Every server predicts with the same fitted objects (joblib-pickled, the same
scikit-learn in every environment):

- ``evergreen``: the real command, ``evergreen serve`` (``launch.gateway_command``;
  ``--gateway-args`` appends options such as ``--workers 2``), on a fresh ``EVERGREEN_HOME``
  where both models were registered and promoted to production through the Python API. Open
  Inference Protocol V2, one 2-D ``FP64`` tensor.
- ``evergreen-ab``: the same, on endpoint ``MODEL-ab`` (``evergreen endpoints set``): versions 1
  and 2 split 50/50 and version 3 as a shadow that samples every request (the issue's "one
  shadow variant and a 50/50 A/B split"; needs a gateway with endpoints). While the gateway is
  short of CPU the shadow gets a tenth of them (``--shadow-busy-share``, default 0.1;
  ``--gateway-args '--shadow-busy-share 1'`` mirrors all); the run ends by printing how many
  copies the shadow predicted and shed.
- ``evergreen-onnx`` and ``evergreen-ab-onnx``: the same two, with each version registered as
  ``evergreen run`` registers it: reference rows and the ONNX export (skl2onnx) verified on
  them, so the gateway predicts with ONNX Runtime once the export matches the model again at
  load. The targets are judged for ``evergreen`` (scikit-learn predicts) and ``evergreen-onnx``.
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

Servers are started by ``benchmarks/serving_competitors/launch.py``. Run with
``python -m benchmarks serving [--only evergreen,mlflow] [--models lr,rf] [--rows 1,100]
[--connections 1,64] [--duration 10] [--reps 3] [--json OUT] [--gateway-args '...']``;
``--report OUT.json`` re-prints a saved run (with a Markdown table). Set the competitors up once
with ``python -m benchmarks serving --setup`` (needs ``uv``; installs into ``.bench/``, never the
project's environment).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import urllib.request
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import workdir
from benchmarks.serving_competitors.launch import (
    Server,
    Workload,
    available_servers,
    build_workload,
    running,
    setup_competitors,
    tool_versions,
)

SERVERS = (
    "evergreen",
    "evergreen-ab",
    "evergreen-onnx",
    "evergreen-ab-onnx",
    "mlserver",
    "fastapi",
    "mlflow",
)
# each evergreen configuration that is judged against the targets, with its A/B + shadow twin
OURS = {"evergreen": "evergreen-ab", "evergreen-onnx": "evergreen-ab-onnx"}
MODELS = ("lr", "rf")
WARMUP = 2
# the targets: evergreen's req/s over each competitor's, at 64 clients
TARGETS = {("mlflow", "lr"): 5.0, ("mlflow", "rf"): 5.0, ("mlserver", "lr"): 1.5}
TARGETS[("mlserver", "rf")] = 2.0

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
    gateway_args: tuple[str, ...] = ()


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
    parser.add_argument(
        "--gateway-args", default="", help="appended to `evergreen serve`, e.g. '--workers 2'"
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
        gateway_args=tuple(shlex.split(args.gateway_args)),
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
                    f"  rep {rep + 1} {run.server:<12} {run.model} rows={run.rows:<3} "
                    f"c={run.clients:<3} {run.rps:8.1f} req/s  p50 {run.p50_ms:7.2f} ms  "
                    f"p99 {run.p99_ms:7.2f} ms  max {run.max_ms:7.1f} ms  errors {run.errors}  "
                    f"load {run.load:.1f}",
                    flush=True,
                )
    return runs


def shadow_counts(servers: list[Server]) -> list[str]:
    """How many copies each A/B + shadow endpoint's shadow predicted and shed (while the
    gateway was short of CPU, ``--shadow-busy-share``), from one worker's ``/metrics`` after
    all the runs (each worker counts its own)."""
    lines = []
    for server in servers:
        if not server.name.startswith("evergreen-ab"):
            continue
        for model, url in server.urls.items():
            base = url.split("/v2/")[0]
            with urllib.request.urlopen(f"{base}/metrics", timeout=10) as answer:
                text = answer.read().decode()
            series = f'{{endpoint="{model}-ab",variant="s"}}'
            counts = {}
            for name in ("evergreen_shadow_lag_seconds_count", "evergreen_shadow_shed_total"):
                found = re.search(rf"^{re.escape(name + series)} (\S+)$", text, re.MULTILINE)
                counts[name] = float(found.group(1)) if found else 0.0
            done = counts["evergreen_shadow_lag_seconds_count"]
            shed = counts["evergreen_shadow_shed_total"]
            share = done / (done + shed) if done + shed else 0.0
            lines.append(
                f"  {server.name} {model}: the shadow predicted {done:.0f} copies, shed "
                f"{shed:.0f} ({share:.0%} predicted; one worker's counters, all runs)"
            )
    return lines


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
            f"  {'server':<12} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
            f"{'errors':>6}  {'eg/this':>7}  runs (req/s)"
        )
        ours = group.get("evergreen")
        for server in SERVERS:
            if server not in group:
                continue
            s = group[server]
            ratio = f"{ours.rps / s.rps:6.2f}x" if ours and s.rps else "      -"
            print(
                f"  {server:<12} {s.rps:8.1f} {s.p50_ms:8.2f} {s.p99_ms:8.2f} {s.max_ms:8.1f} "
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
    for (server, model, rows, clients), ours in sorted(by.items()):
        if server not in OURS:
            continue
        case = f"{server}: {model} rows={rows} c={clients}"
        rivals = {name: by.get((name, model, rows, clients)) for name in SERVERS}
        if clients == 64:
            lines += _throughput_verdicts(case, model, ours, rivals)
            lines.append(_tail_verdict(case, ours))
        variants = rivals[OURS[server]]
        if variants is not None:
            ratio = variants.rps / ours.rps
            text = f"{case} A/B 50/50 + shadow: {ratio:.2f}x of one variant (target ≥ 0.90x)"
            lines.append(_verdict(text, ratio >= 0.9))
        fastapi = rivals["fastapi"]
        if clients == 1 and fastapi is not None:
            lines.append(_latency_verdict(case, ours, fastapi))
    return lines


def _throughput_verdicts(
    case: str, model: str, ours: Summary, rivals: dict[str, Summary | None]
) -> list[str]:
    lines = []
    for (rival, rival_model), target in sorted(TARGETS.items()):
        other = rivals.get(rival)
        if rival_model == model and other is not None:
            ratio = ours.rps / other.rps
            lines.append(
                _verdict(f"{case} vs {rival}: {ratio:.2f}x (target {target}x)", ratio >= target)
            )
    return lines


def _tail_verdict(case: str, ours: Summary) -> str:
    text = (
        f"{case} tail: p99/p50 {ours.p99_ms / ours.p50_ms:.2f} (≤ 2), "
        f"max {ours.max_ms:.0f} ms (≤ 2000), errors {ours.errors}"
    )
    ok = ours.p99_ms <= 2 * ours.p50_ms and ours.max_ms <= 2000 and ours.errors == 0
    return _verdict(text, ok)


def _latency_verdict(case: str, ours: Summary, fastapi: Summary) -> str:
    text = (
        f"{case} latency: p50 {ours.p50_ms:.2f} vs {fastapi.p50_ms:.2f} ms, "
        f"p99 {ours.p99_ms:.2f} vs {fastapi.p99_ms:.2f} ms (FastAPI)"
    )
    return _verdict(text, ours.p50_ms <= fastapi.p50_ms and ours.p99_ms <= fastapi.p99_ms)


def _verdict(text: str, ok: bool) -> str:
    return f"  {'met   ' if ok else 'MISSED'} {text}"


# -- main ---------------------------------------------------------------------------------------


def report(runs: list[Run], *, markdown: bool = False) -> None:
    summaries = summarize(runs)
    print_tables(summaries)
    print("\n  targets (each evergreen configuration):")
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
        with running(servers, work, workload, options.gateway_args) as live:
            files = write_files(work, live, workload, options.rows)
            runs = load_all(live, options, files)
            shadows = shadow_counts(live)
    report(runs)
    for line in shadows:
        print(line)
    if options.json_out is not None:
        document = {
            "started": started.isoformat(),
            "cores": os.cpu_count(),
            "versions": versions,
            "options": {k: str(v) for k, v in asdict(options).items()},
            "runs": [asdict(r) for r in runs],
            "summary": [asdict(s) for s in summarize(runs)],
            "shadows": shadows,
        }
        options.json_out.write_text(json.dumps(document, indent=2))
        print(f"  wrote {options.json_out}")


if __name__ == "__main__":
    main(sys.argv[1:])
