"""``starkrelay forwards held|approve|reject|pause|resume`` in-process, against real Redis."""

from __future__ import annotations

import asyncio
import time

from typer.testing import CliRunner

from starkrelay.cli import app
from starkrelay.core.store import Keys, Store, connect
from starkrelay.forwarding import pause
from starkrelay.ledger import FORWARD_GROUP, IntakeCode, intake, reads
from starkrelay.ledger.budget import LimitCode, Limits, Reservation, reserve

runner = CliRunner()


def hold(redis_url: str, keys: Keys, invoice_ids: list[str]) -> None:
    """Enqueue each invoice and hold it over a cap of 1 cent (as the worker would)."""

    async def body() -> None:
        store = Store(connect(redis_url), keys)
        try:
            await store.redis.xgroup_create(
                keys.forward_stream(), FORWARD_GROUP, id="0", mkstream=True
            )
            for invoice_id in invoice_ids:
                fields = {"invoice_id": invoice_id, "amount": "1950", "gross_amount": "2000",
                          "fee": "50"}  # fmt: skip
                code, entry = await intake(
                    store, event_id=None, event_ttl_seconds=0, action="forward",
                    invoice_id=invoice_id, now=time.time(), stream_fields=fields,
                )  # fmt: skip
                assert code is IntakeCode.ENQUEUED
                [done] = await reserve(
                    store, Limits(max_amount=1), "2030-01-01", "2030-01-01T00",
                    [Reservation(entry, invoice_id, 0, 1950, time.time(), {})],
                )  # fmt: skip
                assert done.code is LimitCode.HELD
        finally:
            await store.redis.aclose()

    asyncio.run(body())


def stage_of(redis_url: str, keys: Keys, invoice_id: str) -> dict[str, str]:
    async def read() -> dict[str, str]:
        redis = connect(redis_url)
        try:
            return dict(await redis.hgetall(keys.webhook_ledger(invoice_id)))
        finally:
            await redis.aclose()

    return asyncio.run(read())


def test_held_approve_and_reject_from_the_command_line(
    cli_environment: Keys, redis_url: str
) -> None:
    hold(redis_url, cli_environment, ["801", "802", "803"])
    listed = runner.invoke(app, ["forwards", "held"])
    assert listed.exit_code == 0, listed.output
    assert "3 held forward(s), R$ 58.50" in listed.output
    assert "max_amount" in listed.output
    approved = runner.invoke(app, ["forwards", "approve", "801", "802"])
    assert approved.exit_code == 0, approved.output
    assert "invoice 801 R$ 19.50: approved" in approved.output
    again = runner.invoke(app, ["forwards", "approve", "802", "803"])
    assert again.exit_code == 1  # 802 was approved before: named, nothing done for it
    assert "invoice 802: not_held (now queued)" in again.output
    assert "1 invoice(s) not held" in again.output
    ledger = stage_of(redis_url, cli_environment, "803")
    assert ledger["stage"] == "queued"
    assert ledger["approved_by"].startswith("cli:")
    rejected = runner.invoke(app, ["forwards", "reject", "801"])
    assert rejected.exit_code == 1
    assert "not_held" in rejected.output


def test_pause_and_resume_from_the_command_line(cli_environment: Keys, redis_url: str) -> None:
    paused = runner.invoke(app, ["forwards", "pause", "--reason", "month end", "--wait", "1"])
    assert paused.exit_code == 0, paused.output
    assert "Outflow paused: no transfer is being created" in paused.output
    twice = runner.invoke(app, ["forwards", "pause"])
    assert twice.exit_code == 0
    assert "already paused" in twice.output

    async def state() -> pause.PauseState:
        store = Store(connect(redis_url), cli_environment)
        try:
            return await pause.pause_state(store)
        finally:
            await store.redis.aclose()

    found = asyncio.run(state())
    assert found.paused
    assert found.reason == "month end"
    assert found.by.startswith("cli:")
    assert "Outflow resumed." in runner.invoke(app, ["forwards", "resume"]).output
    assert "was not paused" in runner.invoke(app, ["forwards", "resume"]).output
    assert not asyncio.run(state()).paused


def test_a_held_forward_reject_is_final(cli_environment: Keys, redis_url: str) -> None:
    hold(redis_url, cli_environment, ["901"])
    assert runner.invoke(app, ["forwards", "reject", "901"]).exit_code == 0
    assert stage_of(redis_url, cli_environment, "901")["stage"] == "rejected"
    assert runner.invoke(app, ["forwards", "approve", "901"]).exit_code == 1

    async def held() -> int:
        store = Store(connect(redis_url), cli_environment)
        try:
            return await reads.held_count(store)
        finally:
            await store.redis.aclose()

    assert asyncio.run(held()) == 0
