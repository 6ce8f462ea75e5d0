"""Starting the serving benchmark's servers (``benchmarks/serving.py``): the workload (data,
models, request bodies), the competitors' environments, and each server as a process group on a
loopback port, checked with a real request before it is used.

The evergreen gateway's command line is :func:`gateway_command`; the competitors' own scripts in
this folder run in their environments under ``.bench/`` and import nothing from ``benchmarks``.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
BENCH = ROOT / ".bench"
COMPETITORS = Path(__file__).resolve().parent
HOST = "127.0.0.1"
FEATURES = 30
ROWS = 5000
READY_TIMEOUT = 180.0
# MLServer 1.7.1's inference workers die at start with uvloop >= 0.22 ("There is no current event
# loop in thread 'MainThread'", from asyncio.get_event_loop() in worker._ignore_signals)
COMPETITOR_PACKAGES = {
    "mlflow": ["mlflow", "pandas"],
    "mlserver": ["mlserver", "mlserver-sklearn", "uvloop<0.22"],
}


def evergreen_command(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "evergreen"), *args]


def gateway_command(port: int, extra: tuple[str, ...] = ()) -> list[str]:
    """The evergreen gateway's command line (``--gateway-args`` appends to it)."""
    return evergreen_command("serve", "--host", HOST, "--port", str(port), *extra)


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

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(self.model_files)


def build_workload(root: Path, models: tuple[str, ...]) -> Workload:
    import joblib  # type: ignore[import-untyped]
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


CHECK_ROWS = 100  # the readiness check compares this many predictions with the model's own


def predictions_in(server: str, response: Any) -> list[int]:
    """The class labels a server's response carries."""
    values = response["predictions"] if server == "mlflow" else response["outputs"][0]["data"]
    return [int(v) for v in values]


def expected(workload: Workload, model: str) -> list[int]:
    predicted = workload.fitted[model].predict(workload.frame.iloc[:CHECK_ROWS])
    return [int(v) for v in predicted]


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


def evergreen_env(home: Path) -> dict[str, str]:
    return {"EVERGREEN_HOME": str(home), "PYTHONPATH": str(ROOT / "src")}


def start_evergreen(
    work: Path, workload: Workload, gateway_args: tuple[str, ...], *, onnx: bool = False
) -> Server:
    """One gateway serving each model by name (its production version); ``onnx``: registered
    as the training pipeline registers them, with a verified ONNX export and reference rows."""
    name = "evergreen-onnx" if onnx else "evergreen"
    home = work / f"{name}-home"
    publish_models(home, workload, workload.models, versions=1, onnx=onnx)
    port = free_port()
    server = Server(name, v2_urls(port, workload.models), v2_body, work / f"{name}.log")
    command = gateway_command(port, gateway_args)
    spawn(server, command, evergreen_env(home), cwd=work)
    return server


def start_evergreen_ab(
    work: Path, workload: Workload, gateway_args: tuple[str, ...], *, onnx: bool = False
) -> Server:
    """One gateway serving endpoint ``MODEL-ab``: versions 1 and 2 split 50/50, version 3 as a
    shadow (every request), set up with ``evergreen endpoints set``."""
    name = "evergreen-ab-onnx" if onnx else "evergreen-ab"
    home = work / f"{name}-home"
    publish_models(home, workload, workload.models, versions=3, onnx=onnx)
    for m in workload.models:
        policy = ["--variant", f"a={m}:1,50", "--variant", f"b={m}:2,50", "--shadow", f"s={m}:3"]
        command = evergreen_command("endpoints", "set", f"{m}-ab", *policy, "--reason", "bench")
        done = subprocess.run(
            command, env={**os.environ, **evergreen_env(home)}, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"`{shlex.join(command)}` failed (exit {done.returncode}); the gateway needs "
                f"`evergreen endpoints`:\n{done.stdout}{done.stderr}"
            )
    port = free_port()
    urls = {m: f"http://{HOST}:{port}/v2/models/{m}-ab/infer" for m in workload.models}
    server = Server(name, urls, v2_body, work / f"{name}.log")
    command = gateway_command(port, gateway_args)
    spawn(server, command, evergreen_env(home), cwd=work)
    return server


def publish_models(
    home: Path, workload: Workload, models: tuple[str, ...], versions: int, *, onnx: bool = False
) -> None:
    """Register ``versions`` versions of each model in a fresh home; version 1 is promoted to
    production (forced, with a reason: the benchmark records no pipeline evidence). With
    ``onnx``, each version also gets what ``evergreen run`` gives it: reference rows (the first
    1,000 of the table) and the ONNX export verified on them."""
    import io

    from evergreen.bootstrap import build
    from evergreen.flavors import Signature, get_flavor
    from evergreen.settings import Settings

    ctx = build(Settings(home=home))
    try:
        signature = Signature.infer(workload.frame, workload.target, "classification")
        reference = workload.frame.head(1000)
        buffer = io.BytesIO()
        reference.to_parquet(buffer)
        for name in models:
            ctx.registry.ensure_model(name, task="classification", target="label", actor="bench")
            extra: dict[str, Any] = {}
            if onnx:
                export = get_flavor("sklearn").export_onnx(
                    workload.fitted[name], signature, reference
                )
                if export.data is None:
                    raise RuntimeError(f"{name}: no ONNX export: {export.reason}")
                sha = ctx.artifacts.put_bytes(buffer.getvalue()).sha256
                extra = {"exports": {"onnx": export.data}, "baseline": {"reference_sha256": sha}}
            for _ in range(versions):
                ctx.registry.register(
                    name,
                    workload.fitted[name],
                    flavor="sklearn",
                    signature=signature,
                    actor="bench",
                    **extra,
                )
            ctx.registry.promote(
                name, 1, "production", actor="bench", reason="benchmark", force=True
            )
    finally:
        ctx.close()


def start_mlserver(work: Path, workload: Workload, gateway_args: tuple[str, ...]) -> Server:
    models = workload.models
    http, grpc, metrics = free_port(), free_port(), free_port()
    server = Server("mlserver", v2_urls(http, models), v2_body, work / "mlserver.log")
    script = COMPETITORS / "mlserver_server.py"
    files = [f"{m}={workload.model_files[m]}" for m in models]
    ports = [str(http), str(grpc), str(metrics)]
    command = [str(competitor_python("mlserver")), str(script), str(work / "mlserver-repo")]
    spawn(server, [*command, *ports, *files], competitor_env("mlserver"), cwd=work)
    return server


def start_fastapi(work: Path, workload: Workload, gateway_args: tuple[str, ...]) -> Server:
    models = workload.models
    port = free_port()
    server = Server("fastapi", v2_urls(port, models), v2_body, work / "fastapi.log")
    app = "benchmarks.serving_competitors.fastapi_app:app"
    command = [sys.executable, "-m", "uvicorn", app, "--host", HOST, "--port", str(port)]
    models_env = ",".join(f"{m}={workload.model_files[m]}" for m in models)
    spawn(server, [*command, "--log-level", "warning"], {"BENCH_MODELS": models_env})
    return server


def start_mlflow(work: Path, workload: Workload, gateway_args: tuple[str, ...]) -> Server:
    server = Server("mlflow", {}, mlflow_body, work / "mlflow.log")
    for model in workload.models:
        port = free_port()
        server.urls[model] = f"http://{HOST}:{port}/invocations"
        script = COMPETITORS / "mlflow_server.py"
        args = [str(workload.model_files[model]), str(work / f"mlflow-{model}"), str(port)]
        command = [str(competitor_python("mlflow")), str(script), *args]
        spawn(server, command, competitor_env("mlflow"), cwd=work)
    return server


STARTERS: dict[str, Callable[[Path, Workload, tuple[str, ...]], Server]] = {
    "evergreen": start_evergreen,
    "evergreen-ab": start_evergreen_ab,
    "evergreen-onnx": partial(start_evergreen, onnx=True),
    "evergreen-ab-onnx": partial(start_evergreen_ab, onnx=True),
    "mlserver": start_mlserver,
    "fastapi": start_fastapi,
    "mlflow": start_mlflow,
}


def wait_ready(server: Server, workload: Workload) -> None:
    """Until every model answers a real 100-row request with the model's own predictions (or
    fail loudly)."""
    deadline = time.monotonic() + READY_TIMEOUT
    for model, url in server.urls.items():
        while True:
            body = server.body(workload, CHECK_ROWS)
            problem = _check(server, url, body, expected(workload, model))
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


def _check(server: Server, url: str, body: bytes, want: list[int]) -> str | None:
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}: {exc.read()[:500]!r}"
    except OSError as exc:
        return str(exc)
    try:  # a server that answers 200 with wrong predictions fails at once: no retry helps
        got = predictions_in(server.name, answer)
    except (KeyError, IndexError, TypeError, ValueError):
        raise RuntimeError(f"{server.name}: unexpected response {str(answer)[:500]}") from None
    if got != want:
        raise RuntimeError(f"{server.name}: predictions {got[:10]}... differ from {want[:10]}...")
    return None


@contextmanager
def running(
    names: tuple[str, ...], work: Path, workload: Workload, gateway_args: tuple[str, ...] = ()
) -> Iterator[list[Server]]:
    """All requested servers, started and checked; stopped (process groups) on the way out."""
    with ExitStack() as stack:
        servers = []
        for name in names:
            print(f"  starting {name}", flush=True)
            server = STARTERS[name](work, workload, gateway_args)
            stack.callback(stop, server)
            servers.append(server)
        for server in servers:
            wait_ready(server, workload)
            print(f"  {server.name} ready: {', '.join(server.urls.values())}", flush=True)
        yield servers
