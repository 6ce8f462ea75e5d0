"""A rerun of the example pipeline with nothing changed, vs ``dvc repro`` of the same work.

evergreen: the bike project (``examples/bike_project.py``) on the full hourly data (17,379
rows) is run once; then, unchanged, again, which is what is timed: every step's fingerprint
matches, nothing is trained or loaded, and the registered version is reused (checked). Timed in
process (a fresh ``Context`` each time, like a service would build once) and as the real
``evergreen run`` command, a new process like ``dvc repro``.

DVC: the same work as a three-stage ``dvc.yaml`` (prepare → train → evaluate, each a Python
script with the same estimator), reproduced once, then ``dvc repro`` with nothing changed.
Target (issue 4): a fully cached rerun in under 1 s.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks import median_of, show, timed, verdict, workdir
from benchmarks.snapshot import DVC

REPS = int(os.environ.get("BENCH_RERUN_REPS", "5"))
REPO = Path(__file__).resolve().parent.parent
PROJECT = REPO / "examples" / "bike_project.py"
DATA = REPO / "examples" / "data" / "bike_sharing_hour.csv"
EVERGREEN = str(Path(sys.executable).parent / "evergreen")

PREPARE = """
import sys, runpy, pandas as pd
project = runpy.run_path(sys.argv[1])["project"]
project.prepare(pd.read_csv("data/hour.csv")).to_parquet("prepared.parquet")
"""
TRAIN = """
import pickle, pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
frame = pd.read_parquet("prepared.parquet")
train = frame.iloc[: int(len(frame) * 0.8)]
model = HistGradientBoostingRegressor(max_iter=150, random_state=0)
model.fit(train.drop(columns="cnt"), train["cnt"])
pickle.dump(model, open("model.pkl", "wb"))
"""
EVALUATE = """
import json, pickle, numpy as np, pandas as pd
frame = pd.read_parquet("prepared.parquet")
holdout = frame.iloc[int(len(frame) * 0.8):]
model = pickle.load(open("model.pkl", "rb"))
error = model.predict(holdout.drop(columns="cnt")) - holdout["cnt"]
json.dump({"rmse": float(np.sqrt(np.mean(error ** 2)))}, open("metrics.json", "w"))
"""


def dvc_yaml(python: str, project: Path) -> str:
    return f"""stages:
  prepare:
    cmd: {python} prepare.py {project}
    deps: [prepare.py, data/hour.csv, {project}]
    outs: [prepared.parquet]
  train:
    cmd: {python} train.py
    deps: [train.py, prepared.parquet]
    outs: [model.pkl]
  evaluate:
    cmd: {python} evaluate.py
    deps: [evaluate.py, prepared.parquet, model.pkl]
    metrics: [metrics.json]
"""


def evergreen_rerun(home: Path, landing: Path) -> dict[str, object]:
    from evergreen import bootstrap
    from evergreen.bootstrap import build
    from evergreen.pipeline.project import load_project
    from evergreen.settings import Settings

    ctx = build(Settings(home=home))
    try:
        project = load_project(PROJECT)
        result = bootstrap.pipeline_runner(ctx).run(project, source=str(landing))
        return result.to_dict()
    finally:
        ctx.close()


def check(result: dict[str, object]) -> None:
    cached = list(result["cached_steps"])  # type: ignore[call-overload]
    if result["status"] != "succeeded" or result["model_version"] != 1 or "train" not in cached:
        raise RuntimeError(f"the rerun was not fully cached: {result}")


def main() -> None:
    with workdir("rerun") as tmp:
        root = Path(tmp)
        landing = root / "landing"
        landing.mkdir()
        shutil.copy(DATA, landing / "hour.csv")
        home = root / "home"
        first = timed(lambda: evergreen_rerun(home, landing))
        second = evergreen_rerun(home, landing)  # production changed: gate runs once more
        check(second)

        repo = root / "dvc"
        (repo / "data").mkdir(parents=True)
        shutil.copy(DATA, repo / "data" / "hour.csv")
        for name, text in (("prepare", PREPARE), ("train", TRAIN), ("evaluate", EVALUATE)):
            (repo / f"{name}.py").write_text(text)
        (repo / "dvc.yaml").write_text(dvc_yaml(sys.executable, PROJECT))
        subprocess.run([DVC, "init", "--no-scm", "-q"], cwd=repo, check=True)
        dvc_first = timed(
            lambda: subprocess.run([DVC, "repro", "-q"], cwd=repo, check=True, capture_output=True)
        )
        print(f"  first run: evergreen {first:.2f} s, dvc repro {dvc_first:.2f} s; reps: {REPS}")

        env = {**os.environ, "EVERGREEN_HOME": str(home)}
        command = [EVERGREEN, "run", "--project", str(PROJECT), "--data", str(landing), "--json"]
        ours: list[float] = []
        ours_cli: list[float] = []
        dvc: list[float] = []
        for _ in range(REPS):
            ours.append(timed(lambda: check(evergreen_rerun(home, landing))))

            def cli() -> None:
                done = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
                check(json.loads(done.stdout))

            ours_cli.append(timed(cli))
            dvc.append(
                timed(
                    lambda: subprocess.run(
                        [DVC, "repro", "-q"], cwd=repo, check=True, capture_output=True
                    )
                )
            )
        show("evergreen rerun (in process)", ours)
        show("evergreen run (CLI)", ours_cli)
        show("dvc repro (nothing changed)", dvc)
        for label, times in (("in process", ours), ("CLI", ours_cli)):
            m = median_of(times)
            print(
                f"  evergreen ({label}) {m:.3f} s: under 1 s {verdict(m < 1.0)}; "
                f"dvc repro / evergreen = {median_of(dvc) / m:.2f}x"
            )


if __name__ == "__main__":
    main()
