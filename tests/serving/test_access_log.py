"""Structured access logs, captured from a real gateway."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from evergreen.serving import access_log

from .conftest import Gateway, Publish, StartGateway, columns_request

FIELDS = {
    "time",
    "method",
    "path",
    "status",
    "duration_ms",
    "endpoint",
    "variant",
    "version",
    "request_id",
    "client",
    "bytes_in",
    "bytes_out",
}


def lines(
    caplog: pytest.LogCaptureFixture, count: int, timeout: float = 5.0
) -> list[dict[str, Any]]:
    """The access lines logged so far, once there are ``count`` (a line is written just after
    its answer is sent)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [
            json.loads(r.getMessage()) for r in caplog.records if r.name == access_log.ACCESS_LOGGER
        ]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.01)


@pytest.fixture
def gateway(publish: Publish, start_gateway: StartGateway) -> Gateway:
    publish()
    return start_gateway()


def test_one_json_line_per_request(caplog: pytest.LogCaptureFixture, gateway: Gateway) -> None:
    caplog.set_level(logging.INFO, logger=access_log.ACCESS_LOGGER)
    body = json.dumps({"dataframe_records": [{"temp": 20.0, "humidity": 0.5, "weekday": 3}]})
    answer = gateway.client.post("/invocations", content=body, headers={"X-Request-Id": "req-7"})
    assert answer.status_code == 200
    (line,) = lines(caplog, 1)
    assert set(line) == FIELDS
    assert line["method"] == "POST"
    assert line["path"] == "/invocations"
    assert line["status"] == 200
    assert line["endpoint"] == "rentals"
    assert line["variant"] == "production"
    assert line["version"] == "1"
    assert line["request_id"] == "req-7"
    assert line["client"].startswith("127.0.0.1:")
    assert line["bytes_in"] == len(body)
    assert line["bytes_out"] == len(answer.content)
    assert 0 < line["duration_ms"] < 10_000
    assert pd.Timestamp(line["time"]).tzinfo is not None


def test_v2_and_failed_requests(caplog: pytest.LogCaptureFixture, gateway: Gateway) -> None:
    caplog.set_level(logging.INFO, logger=access_log.ACCESS_LOGGER)
    frame = pd.DataFrame({"temp": [20.0], "humidity": [0.5], "weekday": [3]})
    assert gateway.client.post("/v2/models/rentals/infer", json=columns_request(frame)).is_success
    assert gateway.client.post("/invocations", content=b"{not json").status_code == 400
    assert gateway.client.get("/v2/models/nope").status_code == 404
    v2, bad, missing = lines(caplog, 3)
    assert (v2["path"], v2["status"], v2["endpoint"]) == (
        "/v2/models/rentals/infer",
        200,
        "rentals",
    )
    assert (v2["variant"], v2["version"]) == ("production", "1")
    # the version that refused the request is still named
    assert (bad["status"], bad["endpoint"], bad["version"]) == (400, "rentals", "1")
    assert bad["request_id"]
    assert (missing["status"], missing["endpoint"], missing["version"]) == (404, "nope", None)


def test_nothing_is_logged_when_the_logger_is_off(
    caplog: pytest.LogCaptureFixture, gateway: Gateway
) -> None:
    caplog.set_level(logging.WARNING, logger=access_log.ACCESS_LOGGER)
    assert gateway.client.get("/ping").status_code == 200
    time.sleep(0.1)
    assert lines(caplog, 0) == []


@pytest.fixture
def own_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger(access_log.ACCESS_LOGGER)
    saved = (logger.handlers[:], logger.level, logger.propagate)
    logger.handlers.clear()
    yield logger
    logger.handlers[:], logger.level, logger.propagate = saved


def test_configure_writes_bare_json_lines(own_logger: logging.Logger, gateway: Gateway) -> None:
    stream = io.StringIO()
    access_log.configure(stream)
    access_log.configure(io.StringIO())  # a second call keeps the first handler
    assert len(own_logger.handlers) == 1
    assert gateway.client.get("/ping").status_code == 200
    deadline = time.monotonic() + 5
    while not stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    line = json.loads(stream.getvalue().splitlines()[0])
    assert (line["path"], line["status"]) == ("/ping", 200)


def test_configured_lines_still_pass_the_loggers_filters(
    own_logger: logging.Logger, gateway: Gateway
) -> None:
    stream = io.StringIO()
    access_log.configure(stream)
    own_logger.addFilter(lambda record: "/health" not in record.getMessage())
    assert gateway.client.get("/health").status_code == 200
    assert gateway.client.get("/ping").status_code == 200
    deadline = time.monotonic() + 5
    while not stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    paths = [json.loads(text)["path"] for text in stream.getvalue().splitlines()]
    assert paths == ["/ping"]


def test_the_time_is_utc_to_the_millisecond_across_seconds() -> None:
    from datetime import UTC, datetime, timedelta

    clock = access_log._IsoClock()
    seen = set()
    deadline = time.monotonic() + 1.5  # at least one change of second
    while time.monotonic() < deadline:
        before = datetime.now(UTC)
        text = clock.now()
        after = datetime.now(UTC)
        stamp = datetime.fromisoformat(text)
        assert len(text) == len("2026-11-28T05:47:26.123+00:00") and text.endswith("+00:00")
        assert before - timedelta(milliseconds=1) <= stamp <= after, (before, text, after)
        seen.add(stamp.second)
        time.sleep(0.003)
    assert len(seen) >= 2
