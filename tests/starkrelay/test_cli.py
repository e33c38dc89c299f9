"""The command line in-process, against the emulator and real Redis."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from ellipticcurve import PrivateKey, PublicKey
from typer.testing import CliRunner

from starkrelay.cli import app
from starkrelay.cli.keys import pem_pair
from starkrelay.core.store import Keys
from starkrelay.invoicing.campaign import Campaign
from starkrelay.invoicing.outcomes import SlotOutcome
from starkrelay.ledger.identity import ForwardItem
from starksandbox.testing import SandboxHandle

runner = CliRunner()


@pytest.mark.usefixtures("cli_environment")
def test_issue_prints_the_batch(sandbox: SandboxHandle) -> None:
    result = runner.invoke(app, ["issue", "--count", "3"])
    assert result.exit_code == 0, result.output
    assert "3 invoices issued" in result.output
    assert sum(sandbox.summary()["invoices"].values()) == 3


@pytest.mark.usefixtures("cli_environment")
def test_campaign_start_status_and_refusal() -> None:
    assert "No campaign yet" in runner.invoke(app, ["campaign", "status"]).output
    started = runner.invoke(app, ["campaign", "start"])
    assert started.exit_code == 0, started.output
    assert started.output.startswith("Started campaign ")
    again = runner.invoke(app, ["campaign", "start"])
    assert again.exit_code == 1
    assert "still running" in again.output
    status = runner.invoke(app, ["campaign", "status"])
    assert status.exit_code == 0, status.output
    assert "(running)" in status.output
    assert "8 slots" in status.output


@pytest.mark.usefixtures("cli_environment")
def test_campaign_retry_slot_then_status_and_start_after_redis_loss(
    sandbox: SandboxHandle, redis_url: str, key_prefix: str
) -> None:
    assert runner.invoke(app, ["campaign", "start"]).exit_code == 0
    keys, db = Keys(key_prefix), redis.Redis.from_url(redis_url, decode_responses=True)
    campaign = Campaign.from_json(str(db.get(keys.campaign())))
    refused = SlotOutcome(0, "failed", time.time(), errors=("invalidAccessId",), attempts=1)
    db.hset(keys.campaign_slots(campaign.id), "0", refused.to_json())

    retried = runner.invoke(app, ["campaign", "retry-slot", "0"])
    assert retried.exit_code == 0, retried.output
    assert f"Slot 0 of campaign {campaign.id}:" in retried.output
    issued = sum(sandbox.summary()["invoices"].values())
    assert 8 <= issued <= 12
    again = runner.invoke(app, ["campaign", "retry-slot", "0"])
    assert again.exit_code == 0, again.output
    assert "already issued" in again.output
    assert sum(sandbox.summary()["invoices"].values()) == issued
    later = runner.invoke(app, ["campaign", "retry-slot", "3"])
    assert later.exit_code == 1
    assert "slot 3 is not due yet" in later.output

    db.delete(*db.scan_iter(f"{key_prefix}:*", count=10_000))  # Redis restarted empty
    status = runner.invoke(app, ["campaign", "status"])
    assert status.exit_code == 0, status.output
    assert "Redis holds no campaign record" in status.output
    assert f"campaign {campaign.id} (running)" in status.output
    refused_start = runner.invoke(app, ["campaign", "start"])
    assert refused_start.exit_code == 1
    assert f"campaign {campaign.id} is still running" in refused_start.output
    forced = runner.invoke(app, ["campaign", "start", "--force"])
    assert forced.exit_code == 0, forced.output
    assert campaign.id not in forced.output


@pytest.mark.usefixtures("cli_environment")
def test_webhook_ensure_then_list() -> None:
    ensured = runner.invoke(app, ["webhook", "ensure"])
    assert ensured.exit_code == 0, ensured.output
    assert "-> http://127.0.0.1:9/api/v1/webhooks/starkbank" in ensured.output
    listed = runner.invoke(app, ["webhook", "list"])
    assert "1 webhooks" in listed.output
    assert "invoice, transfer" in listed.output


@pytest.mark.usefixtures("cli_environment")
def test_bad_setting_is_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAMPAIGN_BATCH_MAX", "lots")
    result = runner.invoke(app, ["issue"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "starkrelay: invalid settings: CAMPAIGN_BATCH_MAX: Input should be a valid integer, "
        "unable to parse string as an integer"
    ]


def test_keygen_writes_a_usable_pair(tmp_path: Path) -> None:
    result = runner.invoke(app, ["keygen", "--directory", str(tmp_path / "keys")])
    assert result.exit_code == 0, result.output
    private = (tmp_path / "keys" / "private-key.pem").read_text()
    assert private.startswith("-----BEGIN EC PRIVATE KEY-----")
    assert runner.invoke(app, ["keygen", "--directory", str(tmp_path / "keys")]).exit_code == 1
    assert (
        PrivateKey.fromPem(private).publicKey().toPem()
        == PublicKey.fromPem((tmp_path / "keys" / "public-key.pem").read_text()).toPem()
    )


@pytest.mark.parametrize(
    "secret", [1, 0xB36F7739EB6048BC20C919CA4DED53DF94107E6638A91AFEEC484E2C5C744C]
)
def test_keygen_pem_keeps_a_short_secret_readable_by_openssl_and_the_sdk(secret: int) -> None:
    private, public = pem_pair(ec.derive_private_key(secret, ec.SECP256K1()))
    assert serialization.load_pem_private_key(private.encode(), password=None) is not None
    sdk_key = PrivateKey.fromPem(private)
    assert sdk_key.secret == secret
    assert sdk_key.publicKey().toPem() == PublicKey.fromPem(public).toPem()


@pytest.mark.usefixtures("cli_environment")
def test_status_is_a_summary_and_json_on_demand() -> None:
    shown = runner.invoke(app, ["status"])
    assert shown.exit_code == 0, shown.output
    for part in ("Stark Bank", "campaign", "forwards by stage", "queue", "last money report"):
        assert part in shown.output
    assert "none yet: the first scheduler tick starts one" in shown.output
    assert not shown.output.lstrip().startswith("{")
    assert runner.invoke(app, ["campaign", "start"]).exit_code == 0
    body = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    assert body["campaign"]["slots"] == 8
    assert body["invoices_by_stage"]["success"] == 0
    assert "of 8 slot(s) resolved" in runner.invoke(app, ["status"]).output


@pytest.mark.usefixtures("cli_environment")
def test_listing_commands_print_json_on_demand(
    sandbox: SandboxHandle, redis_url: str, key_prefix: str
) -> None:
    def as_json(*command: str) -> Any:
        answer = runner.invoke(app, [*command, "--json"])
        assert answer.exit_code == 0, answer.output
        return json.loads(answer.stdout)

    assert as_json("campaign", "status")["campaign"] is None
    issued = as_json("issue", "--count", "2")
    assert [invoice["status"] for invoice in issued] == ["created", "created"]
    assert as_json("webhook", "ensure")["url"] == "http://127.0.0.1:9/api/v1/webhooks/starkbank"
    [hook] = as_json("webhook", "list")
    assert (hook["ours"], hook["subscriptions"]) == (True, ["invoice", "transfer"])

    keys, db = Keys(key_prefix), redis.Redis.from_url(redis_url, decode_responses=True)
    item = ForwardItem(invoice_id=issued[0]["id"], amount=975, gross_amount=1_000, fee=25)
    reason = {"reason": "invalidBankCode: no such bank", "kind": "input"}
    db.xadd(keys.forward_dead_letters(), {**item.to_fields(), **reason})
    [letter] = as_json("dead-letters", "list")
    assert letter["external_id"] == f"invoice-{issued[0]['id']}"
    assert (letter["amount"], letter["kind"]) == (975, "input")

    report = as_json("reconcile")
    assert (report["kind"], report["unexplained_outflow"], report["disagreements"]) == (
        "daily",
        0,
        [],
    )
    assert report["invoices"] <= 2  # the emulator pays them within 50 ms
    assert runner.invoke(app, ["campaign", "start"]).exit_code == 0
    slots = as_json("campaign", "status")["slots"]
    assert [slot["slot"] for slot in slots] == list(range(8))
