"""Structured logs: JSON lines with dotted event names; secret-looking fields are masked."""

from __future__ import annotations

import json

import pytest
import structlog

from starkrelay.logs import configure_logging


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
