"""Two emulators, two workspaces, one signing key: each one's events verify with the other's
public key, as Stark Bank signs every workspace's events with the same key."""

from __future__ import annotations

import json

import pytest
import starkbank
from typer.testing import CliRunner
from webhook_receiver import Receiver

from starksandbox.cli import app
from starksandbox.config import SandboxConfig
from starksandbox.keys import generate_private_key, private_pem
from starksandbox.testing import running_sandbox


def test_shared_key_and_own_workspace_ids(receiver: Receiver) -> None:
    key = private_pem(generate_private_key())
    with running_sandbox(signing_key=key, workspace_id="1111111111111111") as ours:
        our_public_key = starkbank.request.get(path="public-key").json()["publicKeys"][0]
        our_summary = ours.summary()
    with running_sandbox(signing_key=key, workspace_id="2222222222222222", pay_share=0.0) as sb:
        starkbank.webhook.create(url=receiver.url, subscriptions=["invoice"])
        [invoice] = starkbank.invoice.create(
            [starkbank.Invoice(amount=500, name="Ana", tax_id="012.345.678-90")]
        )
        sb.pay_invoice(invoice.id)
        sb.drain()
        their_public_key = starkbank.request.get(path="public-key").json()["publicKeys"][0]
        delivery = receiver.deliveries[-1]
        event = starkbank.event.parse(
            content=delivery.body.decode(), signature=delivery.signature
        )  # verified with THIS emulator's key, which is the other's too
    assert our_summary["workspaceId"] == "1111111111111111"
    assert their_public_key["content"] == our_public_key["content"]
    assert event.workspace_id == "2222222222222222"
    assert json.loads(delivery.body)["event"]["workspaceId"] == "2222222222222222"


def test_workspace_id_is_checked() -> None:
    with pytest.raises(ValueError, match="workspace_id"):
        SandboxConfig(workspace_id="ours")


def test_cli_takes_a_workspace_id_and_a_signing_key() -> None:
    result = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert "--workspace-id" in result.output
    assert "--signing-key" in result.output
    refused = CliRunner().invoke(app, ["serve", "--workspace-id", "abc"])
    assert refused.exit_code != 0
    assert "workspace_id must be 1 to 32 digits" in refused.output
