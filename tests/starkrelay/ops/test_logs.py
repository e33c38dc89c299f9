"""Structured logs: JSON lines with dotted event names; secret-looking fields are masked."""

from __future__ import annotations

import json

import pytest
import structlog

from starkrelay.core.logs import configure_logging


def test_json_lines_with_event_names_and_masked_secrets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "json")
    structlog.get_logger("starkrelay.test").info(
        "campaign.slot.issued", slot=3, admin_token="s3cr3t", private_key="pem"
    )
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["event"] == "campaign.slot.issued"
    assert record["slot"] == 3
    assert record["level"] == "info"
    assert record["admin_token"] == "***"
    assert record["private_key"] == "***"
    assert "s3cr3t" not in line


def _fail() -> None:
    raise ValueError("the cause")


@pytest.mark.parametrize("source", ["stdlib", "structlog"])
def test_json_logs_carry_the_traceback_text(
    capsys: pytest.CaptureFixture[str], source: str
) -> None:
    import logging

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
