"""Production logging costs one INFO line per event: a credited invoice is logged at INFO once,
by the worker that forwards it; its webhook's intake line is DEBUG."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from tests.support.relay_harness import Relay, create_invoice, forward_all, forwards_of

from starkrelay.core.logs import configure_logging

pytestmark = pytest.mark.anyio


class Lines:
    """The JSON lines the process wrote to stderr since the last read."""

    def __init__(self, level: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys
        configure_logging(level, "json")
        # no logger keeps this configuration past the test (capture_logs elsewhere must work)
        structlog.configure(cache_logger_on_first_use=False)

    def read(self) -> list[dict[str, Any]]:
        text = self.capsys.readouterr().err
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.fixture
def logs(capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    try:
        yield lambda level: Lines(level, capsys)
    finally:
        logging.getLogger().setLevel(logging.WARNING)
        structlog.reset_defaults()


async def pay_and_forward(relay: Relay, invoice_id: str) -> None:
    relay.sb.pay_invoice(invoice_id)
    relay.sb.drain()

    async with relay.services() as services:
        await forward_all(relay.worker(services), services)


async def test_a_forwarded_invoice_has_one_info_line(relay: Relay, logs: Any) -> None:
    lines = logs("INFO")
    invoice = create_invoice(7_000)
    lines.read()  # forget what came before
    await pay_and_forward(relay, invoice.id)
    [transfer] = forwards_of(invoice.id)
    about = [r for r in lines.read() if r.get("invoice_id") == invoice.id]
    assert [(r["level"], r["event"]) for r in about] == [
        ("info", "forwarding.transfer.created")
    ]  # the intake's DEBUG line is not written at INFO
    assert about[0]["transfer_id"] == transfer.id


async def test_at_debug_the_intake_line_is_written_too(relay: Relay, logs: Any) -> None:
    lines = logs("DEBUG")
    invoice = create_invoice(8_000)
    lines.read()
    await pay_and_forward(relay, invoice.id)
    about = [r for r in lines.read() if r.get("invoice_id") == invoice.id]
    taken = [(r["level"], r["outcome"]) for r in about if r["event"] == "webhooks.event.taken"]
    assert taken == [("debug", "enqueued")]
    assert [r["event"] for r in about if r["level"] == "info"] == ["forwarding.transfer.created"]
