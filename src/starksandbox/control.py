"""``/sandbox/*``: controls for tests and demos, outside the API (the SDK never calls them).

Unauthenticated: the emulator is meant to listen on 127.0.0.1. Never subject to the API
faults (throttling included).

- ``GET  /sandbox/health`` -> ``{"status": "ok"}``
- ``GET  /sandbox/summary`` -> counts by status, balance, deliveries, attempts, faults
- ``POST /sandbox/invoices/{id}/pay`` ``{"amount"?: int, "at"?: datetime}`` -> ``{"invoice"}``
- ``GET|POST /sandbox/faults`` ``{<fault>: value, ...}`` (omitted keys unchanged; see
  ``Faults.from_json``) -> ``{"faults"}``
- ``POST /sandbox/clock/advance`` ``{"seconds": number}`` -> runs every timer now due
- ``POST /sandbox/drain`` ``{"timeout"?: seconds}`` -> waits until no delivery is in flight
- ``POST /sandbox/projects`` ``{"projectId", "publicKey"}`` -> registers a project key
- ``POST /sandbox/reset`` -> empty workspace, initial balance, clock and faults
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Protocol

from starksandbox import simulation
from starksandbox.auth import Authenticator
from starksandbox.config import Faults
from starksandbox.delivery import Deliverer
from starksandbox.resources.invoice import INVOICES
from starksandbox.state import Workspace
from starksandbox.validation import is_int, is_number, parse_moment
from starksandbox.web import ApiError, Request, Response, Router, json_response


class Sandbox(Protocol):
    """What the control endpoints drive: one emulator (``app.Sandbox``)."""

    @property
    def ws(self) -> Workspace: ...

    @property
    def deliverer(self) -> Deliverer: ...

    @property
    def auth(self) -> Authenticator: ...

    async def reset(self) -> None: ...


def register(router: Router, sandbox: Sandbox) -> None:
    def health(_: Request, __: dict[str, str]) -> Response:
        return json_response({"status": "ok"})

    def summary(_: Request, __: dict[str, str]) -> Response:
        data = sandbox.ws.summary()
        data["deliveriesInFlight"] = sandbox.deliverer.in_flight()
        return json_response(data)

    def pay(request: Request, params: dict[str, str]) -> Response:
        ws = sandbox.ws
        invoice = INVOICES.find(ws, params["id"])
        body = _optional_object(request)
        amount = body.get("amount")
        if amount is not None and (not is_int(amount) or amount < 0):
            raise ApiError.one("invalidAmount", f"amount must be cents >= 0, got {amount!r}")
        at = None
        if body.get("at") is not None:
            moment = parse_moment(body["at"])
            if moment is None:
                raise ApiError.one("invalidDateTime", f"at must be a datetime, got {body['at']!r}")
            at = moment[0]
        simulation.pay_invoice(ws, invoice, amount=amount, at=at)
        return json_response({"invoice": invoice.to_json()})

    def faults(request: Request, _: dict[str, str]) -> Response:
        ws = sandbox.ws
        if request.method == "POST":
            try:
                ws.faults = Faults.from_json(request.json_object(), base=ws.faults)
            except (TypeError, ValueError) as error:
                raise ApiError.one("invalidFaults", str(error)) from None
        return json_response({"faults": ws.faults.to_json()})

    def advance(request: Request, _: dict[str, str]) -> Response:
        ws = sandbox.ws
        seconds: Any = request.json_object().get("seconds")
        if not is_number(seconds) or float(seconds) < 0:
            raise ApiError.one("invalidSeconds", f"seconds must be a number >= 0, got {seconds!r}")
        ws.clock.advance(float(seconds))
        ran = ws.timers.run_due()
        ws.timers.poke()
        return json_response(
            {"now": ws.clock.now().isoformat(), "offset": ws.clock.offset, "timersRun": ran}
        )

    async def drain(request: Request, _: dict[str, str]) -> Response:
        timeout = float(_optional_object(request).get("timeout", 10.0))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await sandbox.deliverer.wait_idle()
        return json_response({"deliveriesInFlight": sandbox.deliverer.in_flight()})

    def projects(request: Request, _: dict[str, str]) -> Response:
        body = request.json_object()
        project_id, pem = body.get("projectId"), body.get("publicKey")
        if not isinstance(project_id, str) or not isinstance(pem, str):
            raise ApiError.one("invalidJson", "give projectId and publicKey (PEM) as strings")
        try:
            sandbox.auth.register(project_id, pem)
        except ValueError as error:
            raise ApiError.one("invalidPublicKey", str(error)) from None
        return json_response({"projects": sandbox.auth.project_ids()})

    def deposit(request: Request, _: dict[str, str]) -> Response:
        ws = sandbox.ws
        amount: Any = request.json_object().get("amount")
        if not is_int(amount) or amount <= 0:
            raise ApiError.one("invalidAmount", f"amount must be cents > 0, got {amount!r}")
        ws.move_balance(amount)
        return json_response({"balance": ws.balance})

    async def reset(_: Request, __: dict[str, str]) -> Response:
        await sandbox.reset()
        return json_response({"status": "reset"})

    router.add("GET", "/sandbox/health", health)
    router.add("GET", "/sandbox/summary", summary)
    router.add("POST", "/sandbox/invoices/{id}/pay", pay)
    router.add("GET", "/sandbox/faults", faults)
    router.add("POST", "/sandbox/faults", faults)
    router.add("POST", "/sandbox/clock/advance", advance)
    router.add("POST", "/sandbox/drain", drain)
    router.add("POST", "/sandbox/projects", projects)
    router.add("POST", "/sandbox/balance/deposit", deposit)
    router.add("POST", "/sandbox/reset", reset)


def _optional_object(request: Request) -> dict[str, Any]:
    return request.json_object() if request.body.strip() else {}
