"""The starksandbox control endpoints (``/sandbox/*``) the demo uses, over async HTTP.

These play the world outside Stark Bank's API: the payers who pay invoices and the
emulator's own counters. starkrelay itself never calls them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx


class SandboxControlError(Exception):
    """A control call answered something other than 200; the message says which and why."""


class SandboxControl:
    """Pay invoices, read the emulator's summary, wait for deliveries to finish."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=30.0)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = await self._http.request(method, path, json=body)
        if response.status_code != 200:
            raise SandboxControlError(
                f"{method} {self.base_url}{path} answered {response.status_code}: {response.text}"
            )
        return response.json()

    async def pay_invoice(self, invoice_id: str, at: datetime | None = None) -> dict[str, Any]:
        """Pay what is due (discount, fine and interest priced as if paid at ``at``, else now).

        Returns the invoice's wire JSON after payment (``amount`` is what was paid)."""
        body = {} if at is None else {"at": at.isoformat()}
        answer = await self._call("POST", f"/sandbox/invoices/{invoice_id}/pay", body)
        invoice: dict[str, Any] = answer["invoice"]
        return invoice

    async def summary(self) -> dict[str, Any]:
        """Counts by status, balance, deliveries (sent, dropped, duplicated, in flight)."""
        summary: dict[str, Any] = await self._call("GET", "/sandbox/summary")
        return summary

    async def drain(self, wait_seconds: float = 5.0) -> int:
        """Wait (at most ``wait_seconds``) until no webhook delivery is in flight; returns how
        many still are."""
        answer = await self._call("POST", "/sandbox/drain", {"timeout": wait_seconds})
        return int(answer["deliveriesInFlight"])
