"""Re-snapshot of an unchanged folder of 10,000 small CSVs vs DVC's re-add of the folder.

Both first record the folder once (evergreen's snapshot fills its stat cache; ``dvc add``
fills DVC's state database); then the unchanged folder is recorded again, which is what is
timed. ``dvc add`` is a new process each time, so evergreen is timed twice: in process (a fresh
``Context`` per repetition) and as a new ``python`` process that imports evergreen and
snapshots, the like-for-like comparison with a CLI.
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
    "ctx = build(Settings(home=Path(sys.argv[1]))); ctx.datasets.snapshot(sys.argv[2]); ctx.close()"
)


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
        first = timed(lambda: evergreen_snapshot(home, folder))
        subprocess.run([DVC, "init", "--no-scm", "-q"], cwd=repo, check=True)
        dvc_first = timed(lambda: subprocess.run([DVC, "add", "-q", "data"], cwd=repo, check=True))
        print(f"  first snapshot: evergreen {first:.2f} s, dvc add {dvc_first:.2f} s")

        ours, ours_cli, dvc = [], [], []
        for _ in range(REPS):
            ours.append(timed(lambda: evergreen_snapshot(home, folder)))
            child = [sys.executable, "-c", CHILD, str(home), str(folder)]
            ours_cli.append(timed(lambda child=child: subprocess.run(child, check=True)))
            dvc.append(
                timed(lambda: subprocess.run([DVC, "add", "-q", "data"], cwd=repo, check=True))
            )
        show("evergreen (in process)", ours)
        show("evergreen (new process)", ours_cli)
        show("dvc add (re-add)", dvc)
        d = median_of(dvc)
        for label, times in (("in process", ours), ("new process", ours_cli)):
            ratio = d / median_of(times)
            print(
                f"  dvc / evergreen ({label}) = {ratio:.2f}x (target >= 3x: {verdict(ratio >= 3)})"
            )
        shutil.rmtree(home)


if __name__ == "__main__":
    main()
