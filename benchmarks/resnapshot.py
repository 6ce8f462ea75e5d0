"""Re-snapshot of an unchanged folder of 10,000 small CSVs vs DVC's re-add of the folder.

Both first record the folder once (evergreen's snapshot fills its stat cache; ``dvc add``
fills DVC's state database); then the unchanged folder is recorded again, which is what is
timed. ``dvc add`` is a new process each time, so evergreen is timed three ways: in process (a
fresh ``Context`` per repetition); as a new ``python -c`` process that imports evergreen, builds
a context and snapshots; and as the real command, ``evergreen data snapshot FOLDER``, a new
process like ``dvc add`` and the most like-for-like of the three. Each must print the id the
first snapshot recorded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import median_of, show, timed, verdict, workdir
from benchmarks.snapshot import DVC

FILES = 10_000
REPS = int(os.environ.get("BENCH_RESNAPSHOT_REPS", "5"))
CHILD = (
    "import sys; from pathlib import Path; from evergreen.bootstrap import build;"
    "from evergreen.settings import Settings;"
    "ctx = build(Settings(home=Path(sys.argv[1]))); print(ctx.datasets.snapshot(sys.argv[2]).id);"
    "ctx.close()"
)
EVERGREEN = str(Path(sys.executable).parent / "evergreen")


def run_child(command: list[str], expected: str, env: dict[str, str] | None = None) -> None:
    """Run a new evergreen process; it must print ``expected``, the id of the version."""
    done = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    if done.stdout.strip() != expected:
        raise RuntimeError(f"{command[:3]} printed {done.stdout!r}, expected {expected}")


def write_folder(folder: Path) -> None:
    folder.mkdir()
    for k in range(FILES):
        sub = folder / f"part-{k // 1000:02d}"
        sub.mkdir(exist_ok=True)
        (sub / f"f{k:05d}.csv").write_text(f"id,x,y\n{k},{k * 0.5},{k % 7}\n{k + 1},{k * 1.5},a\n")


def evergreen_snapshot(home: Path, folder: Path) -> str:
    from evergreen.bootstrap import build
    from evergreen.settings import Settings

    ctx = build(Settings(home=home))
    try:
        return ctx.datasets.snapshot(folder).id
    finally:
        ctx.close()


def main() -> None:
    with workdir("resnapshot") as tmp:
        root = Path(tmp)
        repo = root / "dvc"
        repo.mkdir()
        folder = repo / "data"
        write_folder(folder)
        time.sleep(2.1)  # older than evergreen's racy window, as an unchanged folder would be
        home = root / "home"
        print(f"  {FILES} files; repetitions: {REPS}")
        ids: list[str] = []
        first = timed(lambda: ids.append(evergreen_snapshot(home, folder)))
        version = ids[0]
        env = {**os.environ, "EVERGREEN_HOME": str(home)}
        subprocess.run([DVC, "init", "--no-scm", "-q"], cwd=repo, check=True)
        dvc_first = timed(lambda: subprocess.run([DVC, "add", "-q", "data"], cwd=repo, check=True))
        print(f"  first snapshot: evergreen {first:.2f} s, dvc add {dvc_first:.2f} s")

        ours: list[float] = []
        ours_child: list[float] = []
        ours_cli: list[float] = []
        dvc: list[float] = []
        child = [sys.executable, "-c", CHILD, str(home), str(folder)]
        command = [EVERGREEN, "data", "snapshot", str(folder)]
        for _ in range(REPS):
            ours.append(timed(lambda: ids.append(evergreen_snapshot(home, folder))))
            ours_child.append(timed(lambda: run_child(child, version)))
            ours_cli.append(timed(lambda: run_child(command, version, env)))
            dvc.append(
                timed(lambda: subprocess.run([DVC, "add", "-q", "data"], cwd=repo, check=True))
            )
        if set(ids) != {version}:
            raise RuntimeError(f"a re-snapshot recorded a new version: {sorted(set(ids))}")
        show("evergreen (in process)", ours)
        show("evergreen (new python -c)", ours_child)
        show("evergreen data snapshot", ours_cli)
        show("dvc add (re-add)", dvc)
        d = median_of(dvc)
        for label, times in (
            ("in process", ours),
            ("new python -c", ours_child),
            ("evergreen CLI", ours_cli),
        ):
            ratio = d / median_of(times)
            print(
                f"  dvc / evergreen ({label}) = {ratio:.2f}x (target >= 3x: {verdict(ratio >= 3)})"
            )
        shutil.rmtree(home)


if __name__ == "__main__":
    main()
