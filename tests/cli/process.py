"""Running the real `evergreen` executable as a user's shell would: the installed entry point,
settings from the environment, exit codes, stdout and stderr kept apart.

Also imported by ``tests/test_readme.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
EVERGREEN = BIN / "evergreen"
HOUR_CSV = ROOT / "examples" / "data" / "bike_sharing_hour.csv"
BIKE_PROJECT = ROOT / "examples" / "bike_project.py"
TRAIN_ROWS = 3000


def child_env(home: Path, pycache: Path) -> dict[str, str]:
    """This environment, with `evergreen` first on PATH and its state in ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVERGREEN_")}
    env.update(
        EVERGREEN_HOME=str(home),
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        PYTHONUNBUFFERED="1",  # servers' logs reach their files as they happen
        # One OpenMP thread: on a small shared machine HistGradientBoosting trains several
        # times slower with a thread per core.
        OMP_NUM_THREADS="1",
        NO_PROXY="127.0.0.1,localhost",  # curl in the README talks to local servers
        no_proxy="127.0.0.1,localhost",
    )
    if env.pop("PYTHONDONTWRITEBYTECODE", None):
        # Without any bytecode cache every `evergreen` call compiles pandas, SQLAlchemy and
        # scikit-learn anew (seconds each); cache it in the session's temp folder instead.
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def evergreen(
    *args: str | Path, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EVERGREEN), *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass
class Home:
    """An EVERGREEN_HOME and the environment that points `evergreen` at it."""

    path: Path
    env: dict[str, str]

    def run(self, *args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return evergreen(*args, env=self.env, timeout=timeout)

    def json(self, *args: str | Path) -> Any:
        """Run with ``--json``; the command must succeed and print nothing on stderr."""
        result = self.run(*args, "--json")
        assert (result.returncode, result.stderr) == (0, ""), result.stderr
        return json.loads(result.stdout)


@dataclass
class Trained:
    """A home where `evergreen run --json` trained a model on ``data``, and that run's JSON."""

    home: Path
    data: Path
    result: dict[str, Any]


def write_landing(folder: Path, rows: int = TRAIN_ROWS, drop: Sequence[str] = ()) -> Path:
    """``folder/hour.csv``: the first ``rows`` hours of the bike-sharing data, less ``drop``."""
    folder.mkdir(parents=True)
    lines = HOUR_CSV.read_text().splitlines(keepends=True)[: rows + 1]
    (folder / "hour.csv").write_text("".join(lines))
    if drop:
        frame = pd.read_csv(folder / "hour.csv")
        frame.drop(columns=list(drop)).to_csv(folder / "hour.csv", index=False)
    return folder


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """An `evergreen` command that serves until stopped; stdout and stderr go to ``log_path``."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path, port: int) -> None:
        self.log_path = log_path
        self.url = f"http://127.0.0.1:{port}"
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [str(EVERGREEN), *args, "--port", str(port)],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # kill() ends its worker processes too
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_until(self, path: str, timeout: float = 90.0) -> httpx.Response:
        """Poll ``path`` until it answers 200; fail with the server's log if it never does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(
                    f"{self.process.args} exited with {self.process.returncode}:\n{self.log()}"
                )
            try:
                response = httpx.get(self.url + path, timeout=2.0, trust_env=False)
            except httpx.TransportError:
                response = None
            if response is not None and response.status_code == 200:
                return response
            time.sleep(0.1)
        pytest.fail(f"{self.url}{path} did not answer 200 within {timeout}s:\n{self.log()}")

    def wait_for_line(self, pattern: str, timeout: float = 120.0) -> re.Match[str]:
        """Wait until a line of the server's log matches ``pattern``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            exited = self.process.poll() is not None
            if match := re.search(pattern, self.log(), re.MULTILINE):
                return match
            if exited:
                break
            time.sleep(0.1)
        pytest.fail(
            f"no line matching {pattern!r} in the log of {self.process.args}:\n{self.log()}"
        )

    def stop(self, sig: signal.Signals, timeout: float = 30.0) -> int:
        """Send ``sig`` and return the exit status (negative: ended by that signal)."""
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.process.args} ignored {sig.name} for {timeout}s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL the server and every process it started (``--workers`` children)."""
        with contextlib.suppress(ProcessLookupError):  # already gone, workers and all
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


NewHome = Callable[..., Home]
Landing = Callable[..., Path]
StartServer = Callable[..., Server]
