"""``running_sandbox``: an emulator with a registered project, the SDK pointed at it.

Inside ``with running_sandbox(**overrides) as sb:`` the official SDK sends every call to
``sb.url`` and ``starkbank.user`` is ``sb.project``; both are restored on exit. Defaults are
compressed for tests (see ``TEST_DEFAULTS``); any ``SandboxConfig`` field can be overridden.
The handle's helpers drive the ``/sandbox`` control endpoints over HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import starkbank
from starkcore.utils.cache import cache as sdk_cache

from starksandbox.config import Faults, FaultValue, SandboxConfig
from starksandbox.keys import new_key_pair
from starksandbox.sdk import point_sdk_at, restore_sdk
from starksandbox.server import SandboxServer

TEST_DEFAULTS: dict[str, Any] = {
    "pay_share": 1.0,
    "pay_delay": 0.05,
    "invoice_fee": 50,
    "transfer_fee": 0,
    "initial_balance": 0,
    "transfer_processing_delay": 0.02,
    "retry_schedule": (0.05, 0.1, 0.2),
    "delivery_timeout": 2.0,
    "seed": None,
}
PUBLIC_KEY_CACHE = "stark-public-key"


@dataclass
class SandboxHandle:
    """What a test gets: where the emulator is, who may call it, and its controls."""

    url: str
    project: Any
    project_id: str
    private_key: str
    public_key: str
    server: SandboxServer
    http: httpx.Client

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.http.request(method, f"{self.url}{path}", json=body)
        if response.status_code != 200:
            raise RuntimeError(f"{method} {path} answered {response.status_code}: {response.text}")
        data: dict[str, Any] = response.json()
        return data

    def pay_invoice(
        self, invoice_id: str, amount: int | None = None, at: datetime | str | None = None
    ) -> dict[str, Any]:
        """Pay an invoice now (``paid`` and ``credited`` logs); returns its wire JSON.

        ``amount`` (cents) overrides what the payer pays; ``at`` (a datetime, naive = UTC, or
        an ISO string) prices the payment (discount, fine, interest) as if made then.
        """
        body: dict[str, Any] = {}
        if amount is not None:
            body["amount"] = amount
        if isinstance(at, datetime):
            moment = at if at.tzinfo else at.replace(tzinfo=UTC)
            body["at"] = moment.isoformat()
        elif at is not None:
            body["at"] = at
        invoice: dict[str, Any] = self._call("POST", f"/sandbox/invoices/{invoice_id}/pay", body)[
            "invoice"
        ]
        return invoice

    def set_faults(self, **faults: FaultValue) -> dict[str, FaultValue]:
        """Change some faults (see ``Faults``); the others keep their values."""
        Faults.from_json(dict(faults))  # name and range errors raise here, in the caller
        result: dict[str, FaultValue] = self._call("POST", "/sandbox/faults", dict(faults))[
            "faults"
        ]
        return result

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        """Move the emulator's clock forward and run every timer that became due."""
        return self._call("POST", "/sandbox/clock/advance", {"seconds": seconds})

    def drain(self, timeout: float = 10.0) -> None:
        """Wait until no webhook delivery is in flight."""
        self._call("POST", "/sandbox/drain", {"timeout": timeout})

    def wait_until(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:
        """Poll ``condition`` every few milliseconds until it holds; raise after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"condition not met within {timeout} s; summary: {self.summary()}"
                )
            time.sleep(0.005)

    def deposit(self, amount: int) -> int:
        """Credit ``amount`` cents to the balance from outside (a top-up); returns the balance."""
        balance: int = self._call("POST", "/sandbox/balance/deposit", {"amount": amount})["balance"]
        return balance

    def summary(self) -> dict[str, Any]:
        """Counts by status, balance, logs, events, deliveries, attempts and faults."""
        return self._call("GET", "/sandbox/summary")

    def reset(self) -> None:
        """Back to an empty workspace with the configured balance, clock and faults."""
        self._call("POST", "/sandbox/reset")


@contextmanager
def running_sandbox(**overrides: Any) -> Iterator[SandboxHandle]:
    """Start an emulator with one fresh project, point the SDK at it, stop it on exit.

    ``budget_clock`` (not a ``SandboxConfig`` field) goes to ``SandboxServer``: a clock for the
    per-second request budget that the test holds still or moves itself.
    """
    private_key, public_key = new_key_pair()
    project_id = overrides.pop("project_id", "5656565656565656")
    budget_clock = overrides.pop("budget_clock", None)
    settings = {**TEST_DEFAULTS, **overrides}
    projects = {**settings.pop("projects", {}), project_id: public_key}
    if "retry_schedule" in settings:
        settings["retry_schedule"] = tuple(settings["retry_schedule"])
    if isinstance(settings.get("faults"), dict):
        settings["faults"] = Faults(**settings["faults"])
    config = SandboxConfig(projects=projects, **settings)
    project = starkbank.Project(environment="sandbox", id=project_id, private_key=private_key)
    server = SandboxServer(config, budget_clock=budget_clock).start()
    previous_user = starkbank.user
    sdk_cache.pop(PUBLIC_KEY_CACHE, None)
    point_sdk_at(server.url)
    starkbank.user = project
    http = httpx.Client(timeout=30)
    try:
        yield SandboxHandle(server.url, project, project_id, private_key, public_key, server, http)
    finally:
        http.close()
        starkbank.user = previous_user
        restore_sdk()
        sdk_cache.pop(PUBLIC_KEY_CACHE, None)
        server.stop()
