"""``starksandbox`` as a user runs it. ``serve``: one line for a wrong option, "listening" only
once the port is bound. The commands that drive a running emulator (``summary``, ``pay``,
``faults``, ``clock advance``, ``deposit``, ``drain``, ``reset``), against the test's
emulator: readable text, JSON with ``--json``, one line and exit 1 when it fails."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

import httpx
import pytest
import starkbank
from typer.testing import CliRunner

from starksandbox.cli import app
from starksandbox.config import Faults
from starksandbox.keys import new_key_pair
from starksandbox.remote import DEFAULT_URL
from starksandbox.testing import SandboxHandle


def serve(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "starksandbox", "serve", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def one_line_without_traceback(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "listening" not in result.stdout
    return lines[0]


def test_missing_public_key_file_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    result = serve("--project-id", "1", "--public-key", str(missing))
    assert result.returncode == 2
    line = one_line_without_traceback(result)
    assert line.startswith(f"starksandbox: --public-key {missing}: cannot read the file")


@pytest.mark.parametrize(
    "content", ["not a key", new_key_pair()[0]], ids=["garbage", "a private key"]
)
def test_wrong_public_key_file_is_one_line(tmp_path: Path, content: str) -> None:
    path = tmp_path / "key.pem"
    path.write_text(content)
    result = serve("--project-id", "1", "--public-key", str(path))
    assert result.returncode == 2
    line = one_line_without_traceback(result)
    assert "expected a secp256k1 public key in PEM form" in line


def test_port_in_use_is_one_line_and_never_says_listening() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = serve("--port", str(port))
    assert result.returncode == 1
    line = one_line_without_traceback(result)
    assert line == f"starksandbox: cannot listen on 127.0.0.1:{port}: the port is in use"


def test_listening_is_said_once_the_port_answers(tmp_path: Path) -> None:
    _, public = new_key_pair()
    key = tmp_path / "public-key.pem"
    key.write_text(public)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "starksandbox", "serve", "--port", str(port),
         "--project-id", "42", "--public-key", str(key)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith(f"starksandbox listening on http://127.0.0.1:{port}")
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # bound before the line was printed: the connection is accepted
        for _ in range(200):
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/sandbox/health", timeout=5)
                break
            except httpx.TransportError:
                continue
        assert answer.status_code == 200
    finally:
        process.terminate()
        process.wait(10)


# --- driving a running emulator -------------------------------------------------------------
runner = CliRunner()


EMULATOR_LOG = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[\w+ *\] sandbox\.", re.MULTILINE)


def drive(sandbox: SandboxHandle, *command: str) -> str:
    """The command's text against ``sandbox``, which must succeed. The emulator runs in this
    process, so its own log lines (``sandbox.started`` on a reset) are left out."""
    answer = runner.invoke(app, [*command, "--url", sandbox.url], env={"COLUMNS": "200"})
    assert answer.exit_code == 0, answer.output
    return "".join(
        line for line in answer.stdout.splitlines(keepends=True) if not EMULATOR_LOG.match(line)
    )


def drive_json(sandbox: SandboxHandle, *command: str) -> Any:
    return json.loads(drive(sandbox, *command, "--json"))


def refused(sandbox: SandboxHandle, *command: str) -> str:
    """The one line a failing command prints on stderr (exit 1, nothing on stdout)."""
    answer = runner.invoke(app, [*command, "--url", sandbox.url])
    assert answer.exit_code == 1, answer.output
    assert answer.stdout == ""
    # the emulator runs in this process: its own log lines (in whatever format an earlier
    # test configured) may share stderr; the command's line is the one it prefixes
    [line] = [line for line in answer.stderr.splitlines() if line.startswith("starksandbox: ")]
    return line


def new_invoice(amount: int = 1_000) -> str:
    invoice = starkbank.Invoice(amount=amount, name="Ana", tax_id="012.345.678-90")
    return str(starkbank.invoice.create([invoice])[0].id)


def test_the_default_url_is_where_serve_listens() -> None:
    shown = " ".join(runner.invoke(app, ["serve", "--help"], env={"COLUMNS": "200"}).stdout.split())
    assert DEFAULT_URL == "http://127.0.0.1:8900"
    assert "--host HOST Interface to listen on. [default: 127.0.0.1]" in shown
    assert "(1-65535). [default: 8900]" in shown
    assert f"[default: {DEFAULT_URL}]" in runner.invoke(app, ["summary", "--help"]).stdout


@pytest.mark.sandbox(pay_share=0.0)
def test_pay_an_invoice(sandbox: SandboxHandle) -> None:
    invoice_id = new_invoice()
    assert drive(sandbox, "pay", invoice_id, "--amount", "1500") == (
        f"invoice {invoice_id} paid: R$ 15.00 (fee R$ 0.50)\n"
    )
    assert sandbox.summary()["invoices"] == {"paid": 1}
    assert refused(sandbox, "pay", invoice_id) == (
        "starksandbox: the emulator refused the request (HTTP 400): invalidOperation: "
        f"Invoice {invoice_id} is paid; only created or overdue invoices can be paid"
    )
    second = new_invoice(2_000)
    paid = drive_json(sandbox, "pay", second)
    assert (paid["id"], paid["status"], paid["amount"]) == (second, "paid", 2_000)


def test_show_set_and_clear_faults(sandbox: SandboxHandle) -> None:
    shown = drive(sandbox, "faults")
    assert "api_error_rate                      0.0" in shown
    assert len(shown.splitlines()) == len(fields(Faults))
    changed = drive_json(
        sandbox, "faults", "--api-error-rate", "0.25", "--webhook-delay", "1.5",
        "--api-throttle-body", "plain", "--api-throttle-retry-after", "3",
    )  # fmt: skip
    expected = {
        "api_error_rate": 0.25,
        "webhook_delay": 1.5,
        "api_throttle_body": "plain",
        "api_throttle_retry_after": 3,
    }
    assert changed == Faults().to_json() | expected
    assert sandbox.summary()["faults"] == changed
    assert (
        drive_json(sandbox, "faults", "--api-throttle-retry-after", "none")[
            "api_throttle_retry_after"
        ]
        is None
    )
    assert "faults: api_error_rate 0.25, api_throttle_body plain, webhook_delay 1.5" in drive(
        sandbox, "summary"
    )
    cleared = drive_json(sandbox, "faults", "--clear", "--webhook-drop-rate", "0.5")
    assert cleared == Faults().to_json() | {"webhook_drop_rate": 0.5}
    assert refused(sandbox, "faults", "--api-error-rate", "2") == (
        "starksandbox: the emulator refused the request (HTTP 400): invalidFaults: "
        "fault api_error_rate must be within [0, 1], got 2.0"
    )


def test_every_fault_has_an_option_in_serve_and_faults() -> None:
    for command in ("serve", "faults"):
        shown = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"}).stdout
        for field in fields(Faults):
            assert f"--{field.name.replace('_', '-')}" in shown, (command, field.name)


@pytest.mark.sandbox(pay_share=0.0)
def test_clock_deposit_drain_summary_and_reset(sandbox: SandboxHandle) -> None:
    new_invoice()
    moved = drive_json(sandbox, "clock", "advance", "3600")
    assert moved["offset"] == 3600
    assert drive(sandbox, "clock", "advance", "60").endswith(" (3660 s ahead); 0 timer(s) ran\n")
    assert drive(sandbox, "deposit", "5000") == "deposited R$ 50.00; balance R$ 50.00\n"
    assert drive_json(sandbox, "deposit", "25") == {"balance": 5_025}
    assert drive(sandbox, "drain", "--timeout", "1") == "no webhook delivery in flight\n"
    text = drive(sandbox, "summary")
    assert "balance R$ 50.25" in text
    assert "invoices: created 1" in text
    assert "(moved 3660 s ahead)" in text
    assert drive_json(sandbox, "summary")["balance"] == 5_025
    assert drive(sandbox, "reset").startswith("reset: empty workspace")
    after = sandbox.summary()
    assert (after["balance"], after["invoices"], after["clockOffset"]) == (0, {}, 0)


@pytest.mark.parametrize(
    "command", [["summary"], ["pay", "1"], ["faults"], ["clock", "advance", "1"], ["reset"]]
)
def test_no_emulator_is_one_line_and_exit_1(command: list[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    answer = runner.invoke(app, [*command, "--url", url])
    assert answer.exit_code == 1
    assert answer.stderr == (
        f"starksandbox: no emulator answers at {url} (Connection refused); "
        "start one with `starksandbox serve`\n"
    )
