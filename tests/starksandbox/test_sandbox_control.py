"""The /sandbox control endpoints and the command line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import starkbank

from starksandbox.keys import new_key_pair
from starksandbox.sdk import sdk_pointed_at
from starksandbox.testing import SandboxHandle

PAYER = {"tax_id": "012.345.678-90", "name": "Maria Oliveira"}


def test_summary_counts(sandbox: SandboxHandle) -> None:
    starkbank.invoice.create([starkbank.Invoice(amount=100, **PAYER) for _ in range(3)])
    sandbox.wait_until(lambda: sandbox.summary()["invoices"].get("paid") == 3)
    summary = sandbox.summary()
    assert summary["balance"] == 3 * (100 - 50)
    assert summary["invoiceLogs"] == 9
    assert summary["attempts"] == 0


def test_reset_empties_everything(sandbox: SandboxHandle) -> None:
    sandbox.set_faults(api_latency=0.01)
    starkbank.invoice.create([starkbank.Invoice(amount=100, **PAYER)])
    sandbox.advance_clock(3600)
    sandbox.reset()
    summary = sandbox.summary()
    assert summary["invoices"] == {}
    assert summary["clockOffset"] == 0
    assert summary["faults"]["api_latency"] == 0
    assert list(starkbank.invoice.query()) == []


def test_clock_advance_moves_now(sandbox: SandboxHandle) -> None:
    result = sandbox.advance_clock(86400)
    assert result["offset"] == 86400
    response = httpx.post(f"{sandbox.url}/sandbox/clock/advance", json={"seconds": -1})
    assert response.status_code == 400


def test_deposit_tops_up_the_balance_the_sdk_sees(sandbox: SandboxHandle) -> None:
    before = starkbank.balance.get().amount
    assert sandbox.deposit(12_345) == before + 12_345
    assert starkbank.balance.get().amount == before + 12_345
    for amount in (0, -5, "10", 1.5):
        response = httpx.post(f"{sandbox.url}/sandbox/balance/deposit", json={"amount": amount})
        assert response.status_code == 400
        assert response.json()["errors"][0]["code"] == "invalidAmount"
    assert starkbank.balance.get().amount == before + 12_345


def test_projects_can_be_registered_at_run_time(sandbox: SandboxHandle) -> None:
    private, public = new_key_pair()
    response = httpx.post(
        f"{sandbox.url}/sandbox/projects", json={"projectId": "777", "publicKey": public}
    )
    assert response.status_code == 200
    other = starkbank.Project(environment="sandbox", id="777", private_key=private)
    assert starkbank.balance.get(user=other).amount == 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_cli_help_names_units_and_defaults() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "starksandbox", "serve", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"},
    )
    text = result.stdout
    for needle in (
        "--project-id",
        "--public-key",
        "--pay-share",
        "Seconds",
        "cents",
        "8900",
        "300,1800,7200",
        "--transfer-fail-rate",
    ):
        assert needle in text


def test_cli_serves_the_sdk(tmp_path: Path) -> None:
    private, public = new_key_pair()
    key_file = tmp_path / "public.pem"
    key_file.write_text(public)
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "starksandbox",
            "serve",
            "--port",
            str(port),
            "--project-id",
            "42",
            "--public-key",
            str(key_file),
            "--initial-balance",
            "1234",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(f"{url}/sandbox/health").status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.05)
        project = starkbank.Project(environment="sandbox", id="42", private_key=private)
        with sdk_pointed_at(url):
            assert starkbank.balance.get(user=project).amount == 1234
    finally:
        process.terminate()
        process.wait(10)
