"""Model registry operations: evergreen's ``Registry`` vs MLflow's model registry, both on SQLite.

Each repetition runs each tool in its own child process (the order alternates between
repetitions), on a fresh SQLite file database in a fresh temporary directory. A child first warms
up (a throw-away model with a few versions and one call of every operation, so that lazy imports
and first-statement compilation are not timed), then times ``N`` calls of each operation:

- register: evergreen ``register(name, model, flavor="sklearn", signature=..., gate=...,
  validation=...)`` serializes the fitted model (skops), stores the bytes content-addressed,
  reads them back and checks their sha256, then inserts the version row and an audit event in
  one transaction. MLflow ``create_model_version(name, source=PATH)`` records the source path
  only: no artifact is written, read or checked (``mlflow.sklearn.log_model`` would do that,
  and is not timed here).
- get: ``get_version(name, v)`` / ``get_model_version(name, v)``.
- list versions: ``versions("catalog")`` / ``search_model_versions("name='catalog'")``, a model
  with 10 versions.
- resolve stage: ``resolve("m@production")`` / ``get_latest_versions("m", ["Production"])``.
- resolve alias: ``resolve("m@champion")`` / ``get_model_version_by_alias("m", "champion")``.
- list models: ``list_models()`` / ``search_registered_models()`` (3 models).
- to staging: ``promote(name, v, "staging")`` (writes an audit event) /
  ``transition_model_version_stage(name, v, "Staging")``.
- to production: ``promote(name, v, "production")`` checks the version's evidence (gate,
  validation, approvals), archives the previous production version and writes the audit events
  / ``transition_model_version_stage(name, v, "Production", archive_existing_versions=True)``.
- set alias: ``set_alias(name, "champion", v)`` (writes an audit event, returns the version) /
  ``set_registered_model_alias(name, "champion", v)``.

evergreen's register is also reported split into its parts, measured inside the same calls:
``serialize`` (the flavor's ``save``: skops), ``artifact`` (``put_bytes`` + the verifying
``get_bytes``) and ``record`` (the rest: the model lookup and the transaction that writes the
version and its audit event). ``record`` is the part that does what MLflow's
``create_model_version`` does. Every version is a different fitted model (distinct bytes), so
the content-addressed store never short-cuts a put.

MLflow runs twice: as it comes (its SQLite file in the default rollback-journal mode) and on a
file switched to WAL beforehand (``mlflow-wal``), the journal mode evergreen uses (evergreen
also sets ``synchronous=NORMAL``; MLflow's connections keep SQLite's default, ``FULL``). The
verdict is against MLflow as it comes; the WAL column shows how much of the gap is the journal.

Run with ``python -m benchmarks registry``; ``BENCH_REGISTRY_N`` (200) ops per operation,
``BENCH_REGISTRY_REPS`` (3) repetitions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import median_of, verdict, workdir

N = int(os.environ.get("BENCH_REGISTRY_N", "200"))
REPS = int(os.environ.get("BENCH_REGISTRY_REPS", "3"))
CATALOG = 10  # versions of the model that "list versions" lists
WARM = 3
TARGET = 2.0
OPS = (
    "register",
    "get",
    "list versions",
    "resolve stage",
    "resolve alias",
    "list models",
    "to staging",
    "to production",
    "set alias",
)
SPLIT = ("serialize", "artifact", "record")


def fitted_models(count: int) -> tuple[Any, Any, list[Any]]:
    """``count`` small logistic regressions, each fitted on a different sample (distinct bytes)."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(5)
    features = pd.DataFrame(rng.normal(size=(400, 4)), columns=["a", "b", "c", "d"])
    target = pd.Series((features["a"] + features["b"] > 0).astype(int), name="label")
    models = []
    for _ in range(count):
        rows = rng.choice(len(features), 200, replace=False)
        models.append(LogisticRegression().fit(features.iloc[rows], target.iloc[rows]))
    return features, target, models


def _time_ops(fn: Callable[[int], object], n: int) -> float:
    started = time.perf_counter()
    for i in range(n):
        fn(i)
    return time.perf_counter() - started


class _Timer:
    """Accumulates the time spent in wrapped callables."""

    def __init__(self) -> None:
        self.total = 0.0

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.total += time.perf_counter() - started

        return timed


def run_evergreen(root: Path, n: int) -> dict[str, float]:
    from evergreen.bootstrap import build
    from evergreen.flavors import Signature, get_flavor
    from evergreen.settings import Settings

    features, target, models = fitted_models(WARM + CATALOG + n)
    signature = Signature.infer(features, target, "classification")
    ctx = build(Settings(home=root / "evergreen", actor="bench"))
    registry = ctx.registry
    evidence = {"gate": {"passed": True}, "validation": {"passed": True}}

    def register(name: str, model: Any) -> None:
        registry.register(
            name, model, flavor="sklearn", signature=signature, actor="bench", **evidence
        )

    def one_of_each(name: str, model: Any, version: int) -> None:
        register(name, model)
        registry.get_version(name, version)
        registry.versions(name)
        registry.promote(name, version, "staging", actor="bench")
        registry.promote(name, version, "production", actor="bench")
        registry.set_alias(name, "champion", version, actor="bench")
        registry.resolve(f"{name}@production")
        registry.resolve(f"{name}@champion")
        registry.list_models()

    for name in ("warmup", "catalog", "m"):
        registry.ensure_model(name, task="classification", target="label", actor="bench")
    pool = iter(models)
    for version in range(1, WARM + 1):
        one_of_each("warmup", next(pool), version)
    for _ in range(CATALOG):
        register("catalog", next(pool))

    # The split of register: wrap the flavor's save and the artifact store's put and get.
    serialize, artifact = _Timer(), _Timer()
    handler = get_flavor("sklearn")
    handler.save = serialize.wrap(handler.save)  # type: ignore[method-assign]
    store = registry.artifacts
    store.put_bytes = artifact.wrap(store.put_bytes)  # type: ignore[method-assign]
    store.get_bytes = artifact.wrap(store.get_bytes)  # type: ignore[method-assign]
    todo = [next(pool) for _ in range(n)]
    times = {"register": _time_ops(lambda i: register("m", todo[i]), n)}
    del handler.save, store.put_bytes, store.get_bytes  # type: ignore[attr-defined]
    times["serialize"] = serialize.total
    times["artifact"] = artifact.total
    times["record"] = times["register"] - serialize.total - artifact.total

    times["get"] = _time_ops(lambda i: registry.get_version("m", i + 1), n)
    times["list versions"] = _time_ops(lambda i: registry.versions("catalog"), n)
    times["to staging"] = _time_ops(
        lambda i: registry.promote("m", i + 1, "staging", actor="bench"), n
    )
    times["to production"] = _time_ops(
        lambda i: registry.promote("m", i + 1, "production", actor="bench"), n
    )
    times["set alias"] = _time_ops(
        lambda i: registry.set_alias("m", "champion", i + 1, actor="bench"), n
    )
    times["resolve stage"] = _time_ops(lambda i: registry.resolve("m@production"), n)
    times["resolve alias"] = _time_ops(lambda i: registry.resolve("m@champion"), n)
    times["list models"] = _time_ops(lambda i: registry.list_models(), n)

    assert len(registry.versions("m")) == n
    assert registry.resolve("m@production").version == n
    assert registry.resolve("m@champion").version == n
    ctx.close()
    return times


def run_mlflow(root: Path, n: int, *, wal: bool = False) -> dict[str, float]:
    import logging
    import sqlite3

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore")  # transition_model_version_stage is deprecated
    from mlflow.tracking import MlflowClient

    # Built here too so that both children do the same untimed work and pay for the same imports.
    fitted_models(WARM + CATALOG + n)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    if wal:  # WAL persists in the file: MLflow's connections then write-ahead-log too
        connection = sqlite3.connect(root / "mlflow.db")
        connection.execute("PRAGMA journal_mode=WAL")
        connection.close()
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    source = root / "artifacts"

    def register(name: str) -> None:
        client.create_model_version(name, source=str(source / name))

    def one_of_each(name: str, version: int) -> None:
        register(name)
        client.get_model_version(name, str(version))
        client.search_model_versions(f"name='{name}'")
        client.transition_model_version_stage(name, str(version), "Staging")
        client.transition_model_version_stage(
            name, str(version), "Production", archive_existing_versions=True
        )
        client.set_registered_model_alias(name, "champion", str(version))
        client.get_latest_versions(name, stages=["Production"])
        client.get_model_version_by_alias(name, "champion")
        client.search_registered_models()

    for name in ("warmup", "catalog", "m"):
        client.create_registered_model(name)
    for version in range(1, WARM + 1):
        one_of_each("warmup", version)
    for _ in range(CATALOG):
        register("catalog")

    times = {"register": _time_ops(lambda i: register("m"), n)}
    times["get"] = _time_ops(lambda i: client.get_model_version("m", str(i + 1)), n)
    times["list versions"] = _time_ops(lambda i: client.search_model_versions("name='catalog'"), n)
    times["to staging"] = _time_ops(
        lambda i: client.transition_model_version_stage("m", str(i + 1), "Staging"), n
    )
    times["to production"] = _time_ops(
        lambda i: client.transition_model_version_stage(
            "m", str(i + 1), "Production", archive_existing_versions=True
        ),
        n,
    )
    times["set alias"] = _time_ops(
        lambda i: client.set_registered_model_alias("m", "champion", str(i + 1)), n
    )
    times["resolve stage"] = _time_ops(
        lambda i: client.get_latest_versions("m", stages=["Production"]), n
    )
    times["resolve alias"] = _time_ops(
        lambda i: client.get_model_version_by_alias("m", "champion"), n
    )
    times["list models"] = _time_ops(lambda i: client.search_registered_models(), n)

    assert len(client.search_model_versions("name='m'")) == n
    assert int(client.get_latest_versions("m", stages=["Production"])[0].version) == n
    assert int(client.get_model_version_by_alias("m", "champion").version) == n
    return times


RUNNERS: dict[str, Callable[[Path, int], dict[str, float]]] = {
    "evergreen": run_evergreen,
    "mlflow": run_mlflow,
    "mlflow-wal": lambda root, n: run_mlflow(root, n, wal=True),
}


def _child(tool: str, root: str, n: int) -> None:
    times = RUNNERS[tool](Path(root), n)
    print("RESULT " + json.dumps(times), flush=True)


def _run_child(tool: str, root: Path, n: int) -> dict[str, float]:
    root.mkdir(parents=True)
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.registry", tool, str(root), str(n)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{tool} child failed:\n{proc.stdout}\n{proc.stderr}")
    line = next(x for x in reversed(proc.stdout.splitlines()) if x.startswith("RESULT "))
    result: dict[str, float] = json.loads(line.removeprefix("RESULT "))
    return result


def main() -> None:
    import mlflow

    print(
        f"  {N} ops per operation, {REPS} repetitions, MLflow {mlflow.__version__}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        flush=True,
    )
    runs: dict[str, list[dict[str, float]]] = {tool: [] for tool in RUNNERS}
    with workdir("registry") as tmp:
        for rep in range(REPS):
            order = list(RUNNERS) if rep % 2 == 0 else list(reversed(RUNNERS))
            for tool in order:
                times = _run_child(tool, Path(tmp) / f"{rep}-{tool}", N)
                runs[tool].append(times)
                ops = "  ".join(f"{op} {N / t:,.0f}/s" for op, t in times.items())
                print(f"  rep {rep + 1} {tool:<9} {ops}", flush=True)

    def rates(tool: str, op: str) -> list[float]:
        return [N / r[op] for r in runs[tool]]

    def med(tool: str, op: str) -> float:
        return median_of(rates(tool, op))

    print(
        f"\n  {'ops/s (median)':<22} {'evergreen':>10} {'mlflow':>8} {'ratio':>6}"
        f"  {'verdict':<7} {'mlflow-wal':>10} {'ratio':>6}   runs: evergreen | mlflow | mlflow-wal"
    )
    for op in (*OPS[:1], *SPLIT, *OPS[1:]):
        ever = med("evergreen", op)
        runs_text = " | ".join(
            ", ".join(f"{r:.0f}" for r in rates(tool, op))
            for tool in RUNNERS
            if op in runs[tool][0]
        )
        if op in SPLIT:
            label, compare = f"  {op}", op == "record"
        else:
            label, compare = op, True
        line = f"  {label:<22} {ever:>10,.0f}"
        if compare:
            ml = med("mlflow", "register" if op == "record" else op)
            wal = med("mlflow-wal", "register" if op == "record" else op)
            line += (
                f" {ml:>8,.0f} {ever / ml:>5.2f}x  {verdict(ever / ml >= TARGET):<7}"
                f" {wal:>10,.0f} {ever / wal:>5.2f}x"
            )
        else:
            line += " " * 47
        print(f"{line}   {runs_text}", flush=True)


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2], int(sys.argv[3]))
