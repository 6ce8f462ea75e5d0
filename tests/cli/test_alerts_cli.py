"""`evergreen alerts list|test` through the real executable, against a receiver on loopback."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cli.process import Home, NewHome
from evergreen.core.ids import new_id
from evergreen.monitoring.notifiers.webhook import sign
from evergreen.store.alerts import AlertRepository
from evergreen.store.database import Database
from evergreen.store.tables import AlertRow
from fixtures.postgres import free_port
from fixtures.receivers import http_receiver

pytestmark = pytest.mark.slow  # every test starts `evergreen`: a fresh interpreter

T0 = datetime(2025, 1, 2, 8, tzinfo=UTC)  # long before any run of this test


def project_file(folder: Path, hook_url: str, chat_url: str) -> Path:
    path = folder / "alerting_project.py"
    path.write_text(
        "import evergreen as eg\n\n"
        "project = eg.Project(\n"
        '    name="bikes", source="data.csv", target="cnt",\n'
        "    notifiers=[\n"
        f'        eg.Notifier(kind="webhook", name="ops", url="{hook_url}",\n'
        '                    secret_env="OPS_SECRET", retries=0, timeout=5),\n'
        f'        eg.Notifier(kind="slack", name="chat", url="{chat_url}",\n'
        "                    retries=1, backoff=0.01, timeout=5),\n"
        "    ],\n"
        ")\n"
    )
    return path


def test_alerts_test_reports_each_notifier(new_home: NewHome, tmp_path: Path) -> None:
    home = new_home()
    home = replace(home, env={**home.env, "OPS_SECRET": "whsec-cli"})
    down = f"http://127.0.0.1:{free_port()}/chat"
    with http_receiver() as receiver:
        project = project_file(tmp_path, receiver.url, down)
        result = home.run("alerts", "test", "--project", project)
        only = home.run("alerts", "test", "--project", project, "--notifier", "ops")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("ops: ok (1 try, ")
    assert lines[1].startswith(f"chat: error: POST {down} failed: ") and "(2 tries, " in lines[1]
    assert result.stderr.strip() == "error: notifier(s) chat failed; see the errors above"
    assert only.returncode == 0, only.stderr
    assert only.stdout.startswith("ops: ok")
    first = receiver.requests[0]
    body = json.loads(first.body)
    assert body["test"] is True and body["project"] == "bikes"
    assert body["message"] == "bikes: test alert from evergreen (no action needed)"
    stamp = first.headers["X-Evergreen-Timestamp"]
    assert first.headers["X-Evergreen-Signature"] == sign("whsec-cli", stamp, first.body)
    assert len(receiver.requests) == 2

    unknown = home.run("alerts", "test", "--project", project, "--notifier", "pager")
    assert unknown.returncode == 3 and unknown.stdout == ""
    assert unknown.stderr.strip() == (
        "error: project 'bikes' has no notifier 'pager'; it has: chat, log, ops"
    )


def seed(home: Home, make_db: Callable[..., Database]) -> list[AlertRow]:
    alerts = AlertRepository(make_db(f"sqlite:///{home.path / 'evergreen.db'}"))
    rows = []
    for i, (project, status) in enumerate(
        [("bikes", "delivered"), ("bikes", "undelivered"), ("taxis", "pending")]
    ):
        deliveries = {"ops": {"ok": status == "delivered", "error": None, "tries": 1}}
        row = AlertRow(
            id=new_id("alert"),
            at=T0 + timedelta(hours=i),
            project=project,
            model=project,
            version=2,
            rule="rmse-high",
            series="performance.rmse",
            feature=None,
            value=90.0 + i,
            message=f"{project} v2: performance.rmse {90 + i} above 80 for 1 pass",
            details={"notify": ["ops"]},
            status=status,
            attempts=int(i < 2),
            deliveries=deliveries,
            delivered_at=T0 if status == "delivered" else None,
        )
        rows.append(alerts.add(row))
    return rows


def test_alerts_list(new_home: NewHome, make_db: Callable[..., Database]) -> None:
    home = new_home()
    delivered, undelivered, pending = seed(home, make_db)
    everything = home.json("alerts", "list")
    assert [a["id"] for a in everything] == [pending.id, undelivered.id, delivered.id]
    assert everything[2]["delivered_at"] == T0.isoformat()
    assert everything[1]["deliveries"] == {"ops": {"ok": False, "error": None, "tries": 1}}
    bikes = home.json("alerts", "list", "--project", "bikes", "--status", "undelivered")
    assert [a["id"] for a in bikes] == [undelivered.id]

    wide = replace(home, env={**home.env, "COLUMNS": "200"})
    table = wide.run("alerts", "list", "--project", "bikes")
    assert table.returncode == 0, table.stderr
    assert "undelivered (ops)" in table.stdout and "taxis" not in table.stdout

    assert home.json("alerts", "list", "--since", "1h") == []  # the seeded alerts are older

    wrong = home.run("alerts", "list", "--status", "lost")
    assert wrong.returncode == 2
    assert wrong.stderr.strip() == (
        "error: --status 'lost': expected one of pending, delivering, delivered, undelivered"
    )
