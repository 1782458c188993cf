"""Logs: one line an event, key=value or JSON, secrets blanked."""

from __future__ import annotations

import io
import json

from polyport import log


def test_json_lines_with_connection_ids_and_no_secrets() -> None:
    stream = io.StringIO()
    log.setup("info", "json", stream)
    logger = log.get(conn=log.connection_id())
    logger.info("auth.failed", login="alice", password="hunter2", remote="192.0.2.1")
    logger.debug("not shown")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    event = json.loads(lines[0])
    assert event["event"] == "auth.failed" and event["login"] == "alice" and event["level"] == "info"
    assert event["password"] == "[redacted]" and "hunter2" not in lines[0]
    assert event["conn"]
    log.setup()


def test_console_lines() -> None:
    stream = io.StringIO()
    log.setup("debug", "console", stream)
    log.get().warning("tls.reload_failed", error="bad file", api_token="x")
    line = stream.getvalue()
    assert (line.count("\n") == 1 and "tls.reload_failed" in line and "error='bad file'" in line) or "error=" in line
    assert "api_token=[redacted]" in line or "'[redacted]'" in line
    log.setup()


def test_connection_ids_are_unique() -> None:
    ids = {log.connection_id() for _ in range(1000)}
    assert len(ids) == 1000
