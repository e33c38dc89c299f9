"""Driving a running emulator from outside, as tests and demos do: ``Remote`` calls its
``/sandbox`` control endpoints (``starksandbox.control``) over HTTP, and the ``starksandbox``
commands built on it (``summary``, ``pay``, ``faults``, ``clock advance``, ``deposit``,
``drain``, ``reset``; registered by ``starksandbox.cli``) print what it answers.

Every failure is a ``RemoteError`` whose message is one line: nothing answers at the URL, no
answer in time, something that is not an emulator answered, or the emulator refused the
request (its error code and message, as the API gives them). A command prints that line on
stderr and exits 1; ``--json`` prints the emulator's answer instead of text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Annotated, Any, NoReturn
from urllib.parse import quote

import httpx
import typer

from starksandbox.config import Faults, ThrottleBody

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8900
"""Where ``starksandbox serve`` listens unless told otherwise."""
DEFAULT_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
DEFAULT_TIMEOUT = 10.0
_ERRNO = re.compile(r"^\[Errno -?\d+\]\s*")


class RemoteError(Exception):
    """A control call that did not do what was asked; the message is one line."""


class Remote:
    """The control endpoints of the emulator at ``url`` (e.g. ``http://127.0.0.1:8900``)."""

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def summary(self) -> dict[str, Any]:
        """Counts by status, balance, clock, events, deliveries, attempts and faults."""
        return self._call("GET", "/sandbox/summary")

    def pay(self, invoice_id: str, amount: int | None = None, at: str | None = None) -> Any:
        """Pay an invoice now (or as if at ``at``, ISO 8601); returns its wire JSON."""
        body: dict[str, Any] = {}
        if amount is not None:
            body["amount"] = amount
        if at is not None:
            body["at"] = at
        return self._call("POST", f"/sandbox/invoices/{quote(invoice_id, safe='')}/pay", body)[
            "invoice"
        ]

    def faults(self, changes: Mapping[str, Any] | None = None) -> Any:
        """The faults now in force, after applying ``changes`` (others keep their values)."""
        if changes is None:
            return self._call("GET", "/sandbox/faults")["faults"]
        return self._call("POST", "/sandbox/faults", dict(changes))["faults"]

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        """Move the clock forward and run every timer now due (``now``, ``offset``,
        ``timersRun``)."""
        return self._call("POST", "/sandbox/clock/advance", {"seconds": seconds})

    def deposit(self, amount: int) -> Any:
        """Credit ``amount`` cents to the balance; returns the new balance."""
        return self._call("POST", "/sandbox/balance/deposit", {"amount": amount})["balance"]

    def drain(self, timeout: float = 10.0) -> Any:
        """Wait up to ``timeout`` s until no webhook delivery is in flight; returns how many
        still are."""
        answer = self._call("POST", "/sandbox/drain", {"timeout": timeout}, wait=timeout)
        return answer["deliveriesInFlight"]

    def reset(self) -> None:
        """Back to an empty workspace with the configured balance, clock and faults."""
        self._call("POST", "/sandbox/reset")

    def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, wait: float = 0.0
    ) -> dict[str, Any]:
        timeout = self.timeout + wait
        try:
            with httpx.Client(timeout=timeout, trust_env=False) as client:
                response = client.request(method, self.url + path, json=body)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL):
            raise RemoteError(
                f"{self.url} is not an http:// URL (e.g. http://127.0.0.1:8900)"
            ) from None
        except httpx.ConnectError as error:
            raise RemoteError(
                f"no emulator answers at {self.url} ({_ERRNO.sub('', str(error)) or 'refused'}); "
                "start one with `starksandbox serve`"
            ) from None
        except httpx.TimeoutException:
            raise RemoteError(
                f"the emulator at {self.url} did not answer within {timeout:g} s"
            ) from None
        except httpx.HTTPError as error:
            raise RemoteError(f"{method} {self.url}{path}: {type(error).__name__}") from None
        return _answer(response, f"{method} {self.url}{path}")


def _answer(response: httpx.Response, request: str) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code == 200 and isinstance(data, dict):
        return data
    errors = data.get("errors") if isinstance(data, dict) else None
    if isinstance(errors, list) and errors:
        said = "; ".join(
            f"{error.get('code')}: {error.get('message')}"
            for error in errors
            if isinstance(error, dict)
        )
        raise RemoteError(f"the emulator refused the request (HTTP {response.status_code}): {said}")
    raise RemoteError(
        f"{request} answered HTTP {response.status_code} without the emulator's JSON: "
        "is it a starksandbox?"
    )


# --- the commands --------------------------------------------------------------------------
# Faults: one option each, shared by ``serve`` (where they start) and ``faults`` (a change).
def fault_option(help: str, metavar: str = "RATE", **more: Any) -> Any:
    return typer.Option(help=f"Fault: {help}", metavar=metavar, **more)


API_ERROR_RATE = fault_option("share (0-1) of API calls answered 500.")
API_THROTTLE_RATE = fault_option("share (0-1) of API calls answered 429 before anything happens.")
API_THROTTLE_BODY = fault_option(
    "body of every 429: json (the API's errors shape), plain text or empty.",
    metavar="json|plain|empty",
)
API_REQUESTS_PER_SECOND = fault_option(
    "API calls allowed per second; the rest of that second answers 429 with Retry-After: 1 "
    "(0: no limit).",
    metavar="N",
    min=0,
)
API_LOST_RESPONSE_RATE = fault_option("share (0-1) of API calls that take effect but answer 500.")
API_LATENCY = fault_option("seconds added to every API call.", metavar="SECONDS")
TRANSFER_REFUSED_AFTER_CREATE_RATE = fault_option(
    "share (0-1) of transfer creates that take effect but answer 400 with an unfamiliar error."
)
WEBHOOK_DROP_RATE = fault_option("share (0-1) of deliveries never sent.")
WEBHOOK_DUPLICATE_RATE = fault_option("share (0-1) of deliveries sent twice.")
WEBHOOK_DELAY = fault_option("seconds every delivery waits.", metavar="SECONDS")
WEBHOOK_REORDER_WINDOW = fault_option(
    "random extra wait in [0, seconds] per delivery (reorders them).", metavar="SECONDS"
)
TRANSFER_FAIL_RATE = fault_option(
    "share (0-1) of transfers the receiving bank refuses after processing (failed, money back "
    "in the balance)."
)


UrlOption = Annotated[str, typer.Option(metavar="URL", help="Base URL of the running emulator.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the emulator's JSON answer.")]


def _remote(url: str, work: Callable[[Remote], Any]) -> Any:
    """``work(Remote(url))``, or one line on stderr and exit 1 when it fails."""
    try:
        return work(Remote(url))
    except RemoteError as error:
        _fail(str(error))


def _fail(message: str) -> NoReturn:
    typer.echo(f"starksandbox: {message}", err=True)
    raise typer.Exit(1)


def _show(data: Any, as_json: bool, text: str) -> None:
    typer.echo(json.dumps(data, indent=2) if as_json else text)


def _money(cents: int) -> str:
    return f"{'-' if cents < 0 else ''}R$ {abs(cents) // 100:,}.{abs(cents) % 100:02d}"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counts.items()) or "none"


def summary(url: UrlOption = DEFAULT_URL, as_json: JsonOption = False) -> None:
    """Balance, clock, invoices and transfers by status, events, deliveries and faults."""
    data = _remote(url, Remote.summary)
    faults = {k: v for k, v in data["faults"].items() if v != getattr(Faults(), k)}
    lines = [
        f"workspace {data['workspaceId']}, balance {_money(data['balance'])}",
        f"clock {data['now']} (moved {data['clockOffset']:g} s ahead)",
        f"invoices: {_counts(data['invoices'])}",
        f"transfers: {_counts(data['transfers'])}",
        f"events: {data['events']} ({data['eventsDelivered']} delivered, "
        f"{data['eventsUndelivered']} not yet)",
        f"deliveries: {data['deliveriesSent']} sent, {data['deliveriesSucceeded']} answered 2xx, "
        f"{data['deliveriesDropped']} dropped, {data['deliveriesDuplicated']} duplicated, "
        f"{data['deliveriesInFlight']} in flight; {data['attempts']} failed attempt(s)",
        f"API calls throttled: {data['requestsThrottled']}; timers pending: "
        f"{data['pendingTimers']}",
        f"faults: {_counts(faults)}",
    ]
    _show(data, as_json, "\n".join(lines))


def pay(
    invoice_id: Annotated[str, typer.Argument(metavar="INVOICE_ID", help="The invoice to pay.")],
    amount: Annotated[
        int | None,
        typer.Option(min=0, metavar="CENTS", help="What the payer pays (default: what is due)."),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            metavar="WHEN", help="Price it as if paid then (ISO 8601; discount, fine, interest)."
        ),
    ] = None,
    url: UrlOption = DEFAULT_URL,
    as_json: JsonOption = False,
) -> None:
    """Pay an invoice now: its paid and credited logs, their events and deliveries."""
    invoice = _remote(url, lambda remote: remote.pay(invoice_id, amount, at))
    text = (
        f"invoice {invoice['id']} {invoice['status']}: {_money(invoice['amount'])} "
        f"(fee {_money(invoice['fee'])})"
    )
    _show(invoice, as_json, text)


def faults_command(
    api_error_rate: Annotated[float | None, API_ERROR_RATE] = None,
    api_throttle_rate: Annotated[float | None, API_THROTTLE_RATE] = None,
    api_throttle_retry_after: Annotated[
        str | None,
        fault_option(
            "whole seconds sent as Retry-After with those 429s, or none.", metavar="SECONDS"
        ),
    ] = None,
    api_throttle_body: Annotated[ThrottleBody | None, API_THROTTLE_BODY] = None,
    api_requests_per_second: Annotated[int | None, API_REQUESTS_PER_SECOND] = None,
    api_lost_response_rate: Annotated[float | None, API_LOST_RESPONSE_RATE] = None,
    api_latency: Annotated[float | None, API_LATENCY] = None,
    transfer_refused_after_create_rate: Annotated[
        float | None, TRANSFER_REFUSED_AFTER_CREATE_RATE
    ] = None,
    webhook_drop_rate: Annotated[float | None, WEBHOOK_DROP_RATE] = None,
    webhook_duplicate_rate: Annotated[float | None, WEBHOOK_DUPLICATE_RATE] = None,
    webhook_delay: Annotated[float | None, WEBHOOK_DELAY] = None,
    webhook_reorder_window: Annotated[float | None, WEBHOOK_REORDER_WINDOW] = None,
    transfer_fail_rate: Annotated[float | None, TRANSFER_FAIL_RATE] = None,
    clear: Annotated[
        bool, typer.Option("--clear", help="Turn every fault off first (then apply the options).")
    ] = False,
    url: UrlOption = DEFAULT_URL,
    as_json: JsonOption = False,
) -> None:
    """Show the faults in force; with options, change those (the others keep their values)."""
    given = dict(locals())
    changes: dict[str, Any] = Faults().to_json() if clear else {}
    for field in fields(Faults):
        value = given[field.name]
        if value is None:  # not given: unchanged
            continue
        if isinstance(value, ThrottleBody):
            value = value.value
        elif field.name == "api_throttle_retry_after":
            value = _whole_seconds_or_none(value)  # none: send no Retry-After
        changes[field.name] = value
    now = _remote(url, lambda remote: remote.faults(changes if changes else None))
    width = max(len(name) for name in now)
    text = "\n".join(f"{name:<{width}}  {value}" for name, value in now.items())
    _show(now, as_json, text)


def _whole_seconds_or_none(text: str) -> int | None:
    if text.strip().lower() == "none":
        return None
    if not text.strip().isdigit():
        raise typer.BadParameter(
            f"expected whole seconds or none, got {text!r}",
            param_hint="'--api-throttle-retry-after'",
        )
    return int(text)


def clock_advance(
    seconds: Annotated[
        float, typer.Argument(min=0, metavar="SECONDS", help="How far to move the clock ahead.")
    ],
    url: UrlOption = DEFAULT_URL,
    as_json: JsonOption = False,
) -> None:
    """Move the emulator's clock ahead and run every timer now due (payments, transfer steps,
    overdue and expired invoices, delivery retries)."""
    moved = _remote(url, lambda remote: remote.advance_clock(seconds))
    text = (
        f"clock at {moved['now']} ({moved['offset']:g} s ahead); {moved['timersRun']} timer(s) ran"
    )
    _show(moved, as_json, text)


def deposit(
    cents: Annotated[int, typer.Argument(min=1, metavar="CENTS", help="Cents to add.")],
    url: UrlOption = DEFAULT_URL,
    as_json: JsonOption = False,
) -> None:
    """Add money to the balance from outside (a top-up)."""
    balance = _remote(url, lambda remote: remote.deposit(cents))
    _show({"balance": balance}, as_json, f"deposited {_money(cents)}; balance {_money(balance)}")


def drain(
    timeout: Annotated[
        float, typer.Option(min=0, metavar="SECONDS", help="How long to wait at most.")
    ] = 10.0,
    url: UrlOption = DEFAULT_URL,
    as_json: JsonOption = False,
) -> None:
    """Wait until no webhook delivery is in flight; exit 1 if some still are at the timeout."""
    left = _remote(url, lambda remote: remote.drain(timeout))
    text = "no webhook delivery in flight"
    if left:
        text = f"{left} webhook deliver(ies) still in flight after {timeout:g} s"
    _show({"deliveriesInFlight": left}, as_json, text)
    if left:
        raise typer.Exit(1)


def reset(url: UrlOption = DEFAULT_URL, as_json: JsonOption = False) -> None:
    """Back to an empty workspace with the initial balance, clock and faults."""
    _remote(url, Remote.reset)
    _show({"status": "reset"}, as_json, "reset: empty workspace, initial balance, clock, faults")
