"""`evergreen controller` processes on one PostgreSQL queue: each event runs once, and the event
of a controller killed with SIGKILL mid-run is taken over when its lease runs out."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.process import EVERGREEN, ROOT, Home, Landing, NewHome
from evergreen.store.database import Database
from evergreen.store.events import EventRepository
from evergreen.store.runs import RunRepository
from evergreen.store.tables import TriggerEventRow

PROJECT = """
import time

from sklearn.linear_model import Ridge

import evergreen as eg

FEATURES = ["season", "hr", "workingday", "temp", "hum"]


def prepare(raw):
    time.sleep({sleep})  # a long step, so that a controller can be killed mid-run
    return raw[[*FEATURES, "cnt"]]


project = eg.Project(
    name="{name}",
    source="{landing}",
    target="cnt",
    prepare=prepare,
    model=Ridge,
    triggers=eg.Triggers(drift=False),
)
"""


def project_file(folder: Path, name: str, landing: Path, sleep: float) -> Path:
    file = folder / f"{name}.py"
    file.write_text(PROJECT.format(name=name, landing=landing, sleep=sleep))
    return file


class Controller:
    """An `evergreen controller` process; output in ``log``."""

    def __init__(self, home: Home, log: Path, *args: str | Path) -> None:
        self.log_path = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [str(EVERGREEN), "controller", *map(str, args)],
                cwd=ROOT,
                env=home.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


@pytest.fixture
def on_postgres(new_home: NewHome, postgres_url: str) -> Iterator[tuple[Home, Database]]:
    home = new_home()
    home.env.update(EVERGREEN_DB_URL=postgres_url, EVERGREEN_EXECUTOR="inline")
    db = Database(postgres_url)
    db.upgrade()
    yield home, db
    db.dispose()


def wait_for(condition: object, what: str, timeout: float, *logs: Controller) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.2)
    pytest.fail(f"{what} within {timeout}s\n" + "\n".join(c.log() for c in logs))


def test_a_killed_controllers_event_is_taken_over_once_its_lease_expires(
    on_postgres: tuple[Home, Database], landing: Landing, tmp_path: Path
) -> None:
    home, db = on_postgres
    events, runs = EventRepository(db), RunRepository(db)
    file = project_file(tmp_path, "slow", landing(rows=800), sleep=6)
    queued = home.run("trigger", "--project", file, "--reason", "kill test")
    assert queued.returncode == 0, queued.stderr
    (event,) = events.list("slow")

    def stored() -> TriggerEventRow:
        row = events.get(event.id)
        assert row is not None
        return row

    first = Controller(
        home, tmp_path / "a.log", "-p", file, "--owner", "A", "--lease", "2", "--interval", "0.2"
    )
    try:
        wait_for(
            lambda: stored().lease_owner == "A" and runs.list_runs("slow"),
            "controller A did not start the run",
            90,
            first,
        )
        time.sleep(2.5)  # A renews its 2 s lease while the run goes on: nobody may take it
        assert (stored().status, stored().lease_owner) == ("leased", "A")
    finally:
        first.kill()  # SIGKILL, mid-run: no chance to clean up
    assert stored().status == "leased"  # A's lease is left behind

    second = Controller(
        home, tmp_path / "b.log", "-p", file, "--owner", "B", "--lease", "2", "--interval", "0.2"
    )
    try:
        wait_for(lambda: stored().status == "done", "B did not finish the event", 120, second)
    finally:
        second.process.send_signal(signal.SIGTERM)
        assert second.process.wait(60) == 0, second.log()
    final = stored()
    assert (final.lease_owner, final.attempts) == ("B", 2)
    by_status = {r.status: r for r in runs.list_runs("slow")}
    assert set(by_status) == {"failed", "succeeded"}  # A's abandoned run, B's finished one
    assert "controller stopped" in (by_status["failed"].error or "")
    assert final.run_id == by_status["succeeded"].id
    assert "stopping after the current pass" in second.log()


def test_two_controllers_run_each_event_exactly_once(
    on_postgres: tuple[Home, Database], landing: Landing, tmp_path: Path
) -> None:
    home, db = on_postgres
    data = landing(rows=800)
    files = [project_file(tmp_path, f"p{i}", data, sleep=1.5) for i in range(4)]
    for file in files:
        assert home.run("trigger", "--project", file).returncode == 0
    args = [a for f in files for a in ("-p", str(f))]
    controllers = [
        Controller(home, tmp_path / f"{owner}.log", *args, "--owner", owner, "--once")
        for owner in ("A", "B")
    ]
    for controller in controllers:
        assert controller.process.wait(240) == 0, controller.log()
    events, runs = EventRepository(db), RunRepository(db)
    done = events.list()
    failed = [f"{e.project}: {e.error}" for e in done if e.status != "done"]
    assert [e.status for e in done] == ["done"] * 4, "\n".join(
        [*failed, *(c.log() for c in controllers)]
    )
    all_runs = runs.list_runs(limit=100)
    assert sorted(r.trigger_event_id or "" for r in all_runs) == sorted(e.id for e in done)
    assert {e.lease_owner for e in done} <= {"A", "B"}
    assert all(e.attempts == 1 for e in done)


def test_events_and_rollouts_commands(new_home: NewHome, landing: Landing, tmp_path: Path) -> None:
    home = new_home()
    file = project_file(tmp_path, "listed", landing(rows=500), sleep=0)
    assert home.run("trigger", "--project", file, "--reason", "look at me").returncode == 0
    (event,) = home.json("events", "list", "--project", "listed")
    assert (event["kind"], event["status"], event["reason"]) == ("manual", "pending", "look at me")
    assert home.json("rollouts", "list") == []
    missing = home.run("rollouts", "show", "rollout-nope")
    assert missing.returncode == 3  # not found
    assert "no rollout 'rollout-nope'" in missing.stderr and len(missing.stderr.splitlines()) == 1
    nothing = home.run("controller")
    assert nothing.returncode == 2 and "--project" in nothing.stderr
