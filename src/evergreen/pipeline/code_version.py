"""Which code made a run: the git commit and a hash of uncommitted changes, when in git."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any


def _git(folder: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=folder, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def code_version(folder: Path) -> dict[str, Any]:
    commit = _git(folder, "rev-parse", "HEAD")
    if commit is None:
        return {"git_commit": None}
    diff = _git(folder, "diff", "HEAD") or ""
    return {
        "git_commit": commit,
        "dirty": bool(diff),
        "diff_sha256": hashlib.sha256(diff.encode()).hexdigest() if diff else None,
    }
