"""Throttling faults: HTTP 429 for a share of API calls, and a per-second request budget.

The SDK raises ``UnknownError`` for any status but 200, 400 and 500 (starkcore's ``fetch``),
so a throttled call surfaces as that, carrying the raw body.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
import starkbank
from sandbox_raw import call
from starkbank.error import UnknownError
from webhook_receiver import Receiver

from starksandbox.testing import SandboxHandle, running_sandbox

PAYER = {"tax_id": "012.345.678-90", "name": "Maria Oliveira"}
DESTINATION = {
    "name": "Stark Bank S.A.",
    "tax_id": "20.018.183/0001-80",
    "bank_code": "20018183",
    "branch_code": "0001",
    "account_number": "6341320293482496",
    "account_type": "payment",
}


class HeldClock:
    """The budget's clock, moved only by the test: every call shares one second until then."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def held() -> HeldClock:
    return HeldClock()


@pytest.fixture
def budget_of_three(held: HeldClock) -> Iterator[SandboxHandle]:
    faults = {"api_requests_per_second": 3}
    with running_sandbox(initial_balance=10_000, budget_clock=held, faults=faults) as sb:
        yield sb


def test_throttled_calls_raise_unknown_error_and_create_nothing(sandbox: SandboxHandle) -> None:
    sandbox.deposit(10_000)
    sandbox.set_faults(api_throttle_rate=1.0)
    with pytest.raises(UnknownError) as caught:
        starkbank.invoice.create([starkbank.Invoice(amount=100, **PAYER)])
    assert "tooManyRequests" in str(caught.value)
    with pytest.raises(UnknownError):
        starkbank.transfer.create(
            [starkbank.Transfer(amount=100, external_id="t-1", **DESTINATION)]
        )
    sandbox.set_faults(api_throttle_rate=0.0)
    assert list(starkbank.invoice.query()) == []
    assert list(starkbank.transfer.query()) == []
    summary = sandbox.summary()
    assert (summary["invoiceLogs"], summary["transferLogs"], summary["balance"]) == (0, 0, 10_000)
    assert summary["requestsThrottled"] == 2


@pytest.mark.parametrize(
    ("body", "retry_after", "content", "content_type"),
    [
        ("json", None, b'"code": "tooManyRequests"', "application/json"),
        ("json", 30, b'"code": "tooManyRequests"', "application/json"),
        ("plain", 5, b"Too Many Requests", "text/plain"),
        ("empty", 0, b"", "text/plain"),
    ],
)
def test_throttle_answer_is_configurable(
    sandbox: SandboxHandle, body: str, retry_after: int | None, content: bytes, content_type: str
) -> None:
    sandbox.set_faults(
        api_throttle_rate=1.0, api_throttle_body=body, api_throttle_retry_after=retry_after
    )
    answer = call(sandbox, "GET", "/v2/balance")
    assert answer.status_code == 429
    assert content in answer.content if content else answer.content == b""
    assert answer.headers["content-type"].startswith(content_type)
    expected = None if retry_after is None else str(retry_after)
    assert answer.headers.get("retry-after") == expected
    if body == "json":
        assert [e["code"] for e in answer.json()["errors"]] == ["tooManyRequests"]


def test_throttle_rate_is_a_rate_set_at_start() -> None:
    with running_sandbox(seed=3, faults={"api_throttle_rate": 0.5}) as sb:
        throttled = 0
        for _ in range(40):
            try:
                starkbank.balance.get()
            except UnknownError:
                throttled += 1
        assert 5 < throttled < 35
        assert sb.summary()["requestsThrottled"] == throttled


def test_budget_refuses_the_fourth_call_in_one_second(
    budget_of_three: SandboxHandle, held: HeldClock
) -> None:
    sb = budget_of_three
    for _ in range(3):
        starkbank.balance.get()
    held.now += 0.9  # still the same second
    with pytest.raises(UnknownError):
        starkbank.transfer.create(
            [starkbank.Transfer(amount=100, external_id="t-4", **DESTINATION)]
        )
    refused = call(sb, "GET", "/v2/balance")
    assert (refused.status_code, refused.headers.get("retry-after")) == (429, "1")
    assert sb.summary()["requestsThrottled"] == 2  # the control endpoint is not throttled
    held.now += 0.1  # the next second: a fresh budget
    assert list(starkbank.transfer.query()) == []
    assert starkbank.balance.get().amount == 10_000
    assert sb.summary()["transfers"] == {}


def test_budget_set_and_lifted_at_run_time(held: HeldClock) -> None:
    with running_sandbox(budget_clock=held) as sb:
        for _ in range(5):
            starkbank.balance.get()
        sb.set_faults(api_requests_per_second=1)
        held.now += 1
        starkbank.balance.get()
        with pytest.raises(UnknownError):
            starkbank.balance.get()
        assert sb.set_faults(api_requests_per_second=0)["api_requests_per_second"] == 0
        for _ in range(5):
            starkbank.balance.get()
        sb.reset()  # back to the faults it started with: no budget, the same held clock
        for _ in range(5):
            starkbank.balance.get()


def test_controls_and_deliveries_are_never_throttled(receiver: Receiver, held: HeldClock) -> None:
    faults = {"api_requests_per_second": 2, "api_throttle_rate": 0.0}
    with running_sandbox(pay_share=0.0, budget_clock=held, faults=faults) as sb:
        starkbank.webhook.create(url=receiver.url, subscriptions=["invoice"])
        (invoice,) = starkbank.invoice.create([starkbank.Invoice(amount=1_000, **PAYER)])
        with pytest.raises(UnknownError):
            starkbank.balance.get()  # the budget is spent
        sb.set_faults(api_throttle_rate=1.0)
        sb.pay_invoice(invoice.id)
        deliveries = receiver.wait_for(3)
        assert len(deliveries) == 3
        sb.drain()
        assert sb.summary()["invoices"] == {"paid": 1}
        assert httpx.get(f"{sb.url}/sandbox/health").status_code == 200


def test_throttle_faults_are_validated(sandbox: SandboxHandle) -> None:
    for wrong in (
        {"api_throttle_body": "xml"},
        {"api_throttle_retry_after": -1},
        {"api_throttle_retry_after": 1.5},
        {"api_requests_per_second": 2.5},
        {"api_requests_per_second": "3"},
        {"api_throttle_rate": 1.5},
    ):
        answer = httpx.post(f"{sandbox.url}/sandbox/faults", json=wrong)
        assert answer.status_code == 400, wrong
        assert answer.json()["errors"][0]["code"] == "invalidFaults"
    with pytest.raises(ValueError, match="api_throttle_body"):
        sandbox.set_faults(api_throttle_body="xml")
    faults = sandbox.set_faults(api_requests_per_second=4.0, api_throttle_retry_after=None)
    assert (faults["api_requests_per_second"], faults["api_throttle_retry_after"]) == (4, None)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_cli_sets_the_throttle_at_start() -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "starksandbox", "serve", "--port", str(port),
         "--api-throttle-rate", "1", "--api-throttle-retry-after", "7",
         "--api-throttle-body", "plain", "--api-requests-per-second", "50"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith(b"starksandbox listening")
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                faults = httpx.get(f"{url}/sandbox/faults").json()["faults"]
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
        assert faults["api_throttle_rate"] == 1.0
        assert faults["api_throttle_retry_after"] == 7
        assert faults["api_throttle_body"] == "plain"
        assert faults["api_requests_per_second"] == 50
        answer = httpx.get(f"{url}/v2/balance")
        assert (answer.status_code, answer.text) == (429, "Too Many Requests")
        assert answer.headers["retry-after"] == "7"
    finally:
        process.terminate()
        process.wait(10)
