"""The command line starts with only what a command needs.

`evergreen data snapshot` of an unchanged folder has to be quick as a new process, so importing
the CLI (or ``evergreen``, or the composition root) must not pull in pandas, pyarrow, Alembic,
FastAPI, SciPy or scikit-learn, nor the packages built on them: those load with the commands
that use them. Checked in fresh interpreters through ``sys.modules``, not by timing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evergreen import bootstrap
from evergreen.settings import Settings

HEAVY = (
    "pandas",
    "pyarrow",
    "alembic",
    "fastapi",
    "starlette",
    "uvicorn",
    "scipy",
    "sklearn",
    "evergreen.controller",
    "evergreen.flavors",
    "evergreen.monitoring",
    "evergreen.pipeline",
    "evergreen.serving",
    "evergreen.validation",
)
AN_HOUR_AGO_NS = (1_700_000_000 - 3600) * 1_000_000_000


def heavy_modules(code: str, env: dict[str, str] | None = None) -> tuple[set[str], str]:
    """The heavy modules a fresh interpreter holds after running ``code``, and what it printed
    before."""
    report = "\nimport json as _j, sys as _s; print(_j.dumps(sorted(_s.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code + report],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    *printed, modules = done.stdout.splitlines()
    loaded = set(json.loads(modules))
    return {name for name in HEAVY if name in loaded}, "\n".join(printed)


@pytest.mark.parametrize("module", ["evergreen", "evergreen.bootstrap", "evergreen.cli.main"])
def test_importing_loads_no_heavy_dependency(module: str) -> None:
    assert heavy_modules(f"import {module}")[0] == set()


def test_the_public_names_still_load_on_first_use() -> None:
    loaded, printed = heavy_modules("import evergreen as eg; print(eg.Project.__name__)")
    assert printed == "Project"
    assert "evergreen.pipeline" in loaded


def test_cli_re_snapshot_of_an_unchanged_folder_loads_no_heavy_dependency(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    for i in range(3):
        path = folder / f"part-{i}" / f"f{i}.csv"
        path.parent.mkdir(parents=True)
        path.write_text(f"a,b\n{i},x\n")
        os.utime(path, ns=(AN_HOUR_AGO_NS, AN_HOUR_AGO_NS))
    home = tmp_path / "home"
    ctx = bootstrap.build(Settings(home=home))
    try:
        version = ctx.datasets.snapshot(folder).id  # parses the files, fills the stat cache
    finally:
        ctx.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVERGREEN_")}
    env["EVERGREEN_HOME"] = str(home)

    loaded, printed = heavy_modules(
        "from evergreen.cli.main import app\n"
        f"app(['data', 'snapshot', {str(folder)!r}], standalone_mode=False)",
        env,
    )

    assert printed == version
    assert loaded == set()
