"""Structured logs: JSON lines with dotted event names; secret-looking fields are masked."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from starkrelay.core.logs import configure_logging


@pytest.fixture(autouse=True)
def _restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    root.handlers[:], root.level = handlers, level


def test_json_lines_with_event_names_and_masked_secrets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "json")
    logging.getLogger().handlers.clear()  # our own lines never pass through a logging handler
    structlog.contextvars.bind_contextvars(request_id="r-1")
    log = structlog.get_logger("starkrelay.test")
    log.debug("campaign.slot.checked", slot=3)
    log.info("campaign.slot.issued", slot=3, admin_token="s3cr3t", private_key="pem")
    [line] = capsys.readouterr().err.strip().splitlines()
    record = json.loads(line)
    assert record["event"] == "campaign.slot.issued"
    assert record["slot"] == 3
    assert record["level"] == "info"
    assert record["logger"] == "starkrelay.test"
    assert record["request_id"] == "r-1"
    assert record["timestamp"].endswith("Z")
    assert record["admin_token"] == "***"
    assert record["private_key"] == "***"
    assert "s3cr3t" not in line


def test_standard_library_lines_have_the_same_shape(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    logging.getLogger("starkrelay.test.stdlib").info("Started server process [%d]", 7)
    structlog.get_logger("starkrelay.test").info("app.started", authorization="Bearer x")
    foreign, ours = map(json.loads, capsys.readouterr().err.strip().splitlines())
    assert foreign.keys() == {"event", "level", "logger", "timestamp"}
    assert foreign["event"] == "Started server process [7]"
    assert ours.keys() == foreign.keys() | {"authorization"}
    assert ours["authorization"] == "***"


def _fail() -> None:
    raise ValueError("the cause")


@pytest.mark.parametrize("source", ["stdlib", "structlog"])
def test_json_logs_carry_the_traceback_text(
    capsys: pytest.CaptureFixture[str], source: str
) -> None:
    configure_logging("INFO", "json")
    try:
        _fail()
    except ValueError:
        if source == "stdlib":  # as uvicorn logs "Exception in ASGI application"
            logging.getLogger("starkrelay.test.stdlib").exception("Exception in ASGI application")
        else:
            structlog.get_logger("starkrelay.test").exception("forwarding.step.failed")
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert "<traceback object" not in line
    assert "Traceback (most recent call last)" in record["exception"]
    assert "ValueError: the cause" in record["exception"]
    assert "_fail" in record["exception"]
