"""Snapshot of a ~1 GiB CSV: evergreen vs ``dvc add`` vs ``hashlib.sha256``.

Every repetition gets a fresh evergreen home and a fresh ``dvc init --no-scm`` repository, so
nothing is cached between runs except the file itself in the OS page cache (which all
contenders share). Evergreen is timed twice: the ``snapshot`` call on a context built beforehand
(compared with the hashing floor, which has no start-up either) and the real CLI,
``evergreen data snapshot FILE`` as a new process (compared with ``dvc add``, also a new
process). Each timed contender starts after an ``os.sync()``, so none pays for the writeback of
the copy the one before it made.
"""

from __future__ import annotations

import cProfile
import hashlib
import os
import pstats
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from subprocess import PIPE
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from benchmarks import median_of, show, timed, verdict, workdir

TARGET_BYTES = 2**30
ROWS_PER_CHUNK = 1_000_000
REPS = int(os.environ.get("BENCH_SNAPSHOT_REPS", "3"))
CHUNK = 8 * 2**20
DVC = shutil.which("dvc", path=str(Path(sys.executable).parent)) or "dvc"
EVERGREEN = shutil.which("evergreen", path=str(Path(sys.executable).parent)) or "evergreen"


def write_csv(path: Path, target: int = TARGET_BYTES) -> None:
    """Random numeric columns (ints and 6-decimal floats) until the file reaches ``target``."""
    rng = np.random.default_rng(3)
    with pacsv.CSVWriter(path, schema=_schema()) as writer:
        while path.stat().st_size < target:
            arrays = [pa.array(rng.integers(0, 1_000_000, ROWS_PER_CHUNK)) for _ in range(4)]
            arrays += [pa.array(np.round(rng.normal(size=ROWS_PER_CHUNK), 6)) for _ in range(6)]
            writer.write_table(pa.Table.from_arrays(arrays, schema=_schema()))


def _schema() -> pa.Schema:
    return pa.schema(
        [(f"i{k}", pa.int64()) for k in range(4)] + [(f"f{k}", pa.float64()) for k in range(6)]
    )


def _dvc_add(repo: Path, name: str) -> None:
    subprocess.run([DVC, "add", "-q", name], cwd=repo, check=True)


def sha256_floor(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _context(home: Path) -> Any:
    from evergreen.bootstrap import build
    from evergreen.settings import Settings

    return build(Settings(home=home))


def _fresh_home(root: Path, rep: int) -> Path:
    home = root / f"home-{rep}"
    shutil.rmtree(home, ignore_errors=True)
    return home


def _fresh_dvc_repo(root: Path, data: Path, rep: int) -> Path:
    repo = root / f"dvc-{rep}"
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir()
    subprocess.run([DVC, "init", "--no-scm", "-q"], cwd=repo, check=True)
    os.link(data, repo / data.name)  # same bytes, same inode: no extra copy per repetition
    return repo


def _settled(fn: Callable[[], object]) -> float:
    """``fn``'s time, started with no dirty pages left by the previous contender's writes."""
    os.sync()
    return timed(fn)


def _cli_snapshot(home: Path, data: Path) -> None:
    env = {**os.environ, "EVERGREEN_HOME": str(home)}
    subprocess.run([EVERGREEN, "data", "snapshot", str(data)], env=env, check=True, stdout=PIPE)


def _in_process(root: Path, data: Path, rep: int) -> float:
    """The snapshot call alone, on a context built beforehand (the floor has no start-up)."""
    ctx = _context(_fresh_home(root, rep))
    try:
        return _settled(lambda: ctx.datasets.snapshot(data))
    finally:
        ctx.close()


def profile_once(path: Path, home: Path) -> None:
    """Where evergreen's time goes, by the functions that own the work."""
    ctx = _context(home)
    profiler = cProfile.Profile()
    try:
        profiler.runcall(ctx.datasets.snapshot, path)
    finally:
        ctx.close()
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    wanted = {
        ("file_scan.py", "_hash"): "read + sha256 (calling thread)",
        ("file_scan.py", "join"): "waiting for the copy and count threads",
        ("file_scan.py", "shape"): "rows and dtypes from the counts and the head",
        ("artifacts.py", "commit_staged"): "moving the staged copy into place",
        ("snapshots.py", "_local_parts"): "all of reading, hashing and copying",
        ("snapshots.py", "_record"): "all of recording (database)",
    }
    print(f"  profile (one run, {total:.2f} s under cProfile):")
    for (file, _line, func), row in stats.stats.items():  # type: ignore[attr-defined]
        label = wanted.get((Path(file).name, func))
        if label is not None:
            print(f"    {label:<44} {row[3]:7.2f} s  ({row[3] / total:5.1%})")


def main() -> None:
    with workdir("snapshot") as tmp:
        root = Path(tmp)
        data = root / "big.csv"
        print("  writing the CSV ...", flush=True)
        print(f"  wrote {data.name} in {timed(lambda: write_csv(data)):.1f} s", flush=True)
        size = data.stat().st_size
        print(f"  file: {size / 2**30:.3f} GiB ({size} bytes); repetitions: {REPS}")
        sha256_floor(data)  # warm the page cache for everyone
        # In process means a long-running process: import what the first snapshot would.
        _in_process(root, data, -1)

        floor, ours, cli, dvc = [], [], [], []
        for rep in range(REPS):
            floor.append(_settled(lambda: sha256_floor(data)))
            ours.append(_in_process(root, data, rep))
            home = _fresh_home(root, rep)
            cli.append(_settled(lambda home=home: _cli_snapshot(home, data)))
            shutil.rmtree(home)
            repo = _fresh_dvc_repo(root, data, rep)
            dvc.append(_settled(lambda repo=repo: _dvc_add(repo, data.name)))
            shutil.rmtree(repo)
        show("hashlib.sha256 (floor)", floor)
        show("evergreen, in process", ours)
        show("evergreen data snapshot", cli)
        show("dvc add", dvc)
        e, c, d, h = median_of(ours), median_of(cli), median_of(dvc), median_of(floor)
        print(f"  dvc add / evergreen CLI = {d / c:.2f}x (target >= 5x: {verdict(d / c >= 5)})")
        print(f"  evergreen / sha256      = {e / h:.2f}x (target <= 1.3x: {verdict(e / h <= 1.3)})")
        profile_once(data, _fresh_home(root, REPS))


if __name__ == "__main__":
    main()
