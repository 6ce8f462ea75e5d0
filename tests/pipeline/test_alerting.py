"""Alert rule and notifier specs: what a project file may say, and the example in the docs."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from evergreen.errors import InvalidInput
from evergreen.pipeline.alerting import AlertRule, Notifier
from evergreen.pipeline.project import Project

DOCS = Path(__file__).resolve().parents[2] / "docs" / "alerts.md"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"name": "r", "series": "input_drift"}, "needs above= or below="),
        ({"name": "r", "series": "s", "above": 0.5, "below": 0.9}, "every value would fire"),
        ({"name": "r", "series": "s", "above": 1, "notify": []}, "notify= names no notifier"),
        ({"name": "r r", "series": "s", "above": 1}, "invalid alert rule name"),
        ({"name": "r", "series": "s", "above": 1, "cooldown": "soon"}, "is not a duration"),
    ],
    ids=["no-threshold", "inverted-band", "no-notifier", "bad-name", "bad-cooldown"],
)
def test_bad_rules_say_what_to_fix(spec: dict[str, Any], message: str) -> None:
    with pytest.raises((ValidationError, InvalidInput), match=message):
        AlertRule(**spec)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "webhook"}, "a webhook notifier needs url="),
        ({"kind": "slack"}, "a slack notifier needs url="),
        ({"kind": "smtp", "host": "mail"}, "needs host=, sender= and recipients="),
        (
            {"kind": "smtp", "host": "m", "sender": "a@b", "recipients": ["c@d"], "username": "u"},
            "an smtp login needs password_env=",
        ),
        ({"kind": "pager", "url": "http://x"}, "Input should be 'log', 'webhook'"),
    ],
    ids=["webhook", "slack", "smtp", "smtp-login", "kind"],
)
def test_bad_notifiers_say_what_to_fix(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Notifier(**spec)


def test_a_band_rule_and_defaults() -> None:
    band = AlertRule(name="r2", series="performance.r2", below=0.5, above=0.99)
    assert (band.min_samples, band.persistence, band.cooldown) == (1, 1, timedelta(hours=1))
    assert band.notify == ("log",)
    assert Notifier(kind="webhook", url="http://x").name == "webhook"


def test_rules_must_name_known_notifiers() -> None:
    rule = AlertRule(name="r", series="s", above=1, notify=["log", "ops"])
    with pytest.raises(InvalidInput, match=r"notifies unknown notifier\(s\) \['ops'\]"):
        Project(name="p", source="d.csv", target="y", alerts=[rule])


def test_the_docs_example_project_builds() -> None:
    block = re.search(r"```python\n(import evergreen as eg\n.*?)```", DOCS.read_text(), re.S)
    assert block is not None, "docs/alerts.md lost its example project"
    namespace: dict[str, Any] = {}
    exec(block.group(1), namespace)
    project = namespace["project"]
    assert [r.name for r in project.alerts] == ["rmse-high", "temp-drift"]
    assert [n.name for n in project.notifiers] == ["ops", "chat", "oncall"]
    assert project.alerts[0].cooldown == timedelta(hours=6)
