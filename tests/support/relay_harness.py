"""Test harness for the money path: a starksandbox, the relay's API on a real port, and the
relay's own services (Redis, gateway, worker) in the test's event loop.

Everything talks over 127.0.0.1. Delays are compressed: the gateway retries for a fraction of
a second, idle entries are claimable after 0.2 s, the public key may refresh at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import starkbank
import uvicorn

from starkrelay.api.deps import Services
from starkrelay.api.wiring import build_worker
from starkrelay.app import create_app, open_services
from starkrelay.bank import BankError, BankGateway, NewTransfer, RetryPolicy, Transfer
from starkrelay.core.settings import WEBHOOK_PATH, Settings
from starkrelay.forwarding.reader import Entry, ensure_group
from starkrelay.forwarding.stream_state import stream_state
from starkrelay.forwarding.transfers import Destination
from starkrelay.forwarding.worker import ForwardingWorker
from starkrelay.webhooks.events import parse_event
from starkrelay.webhooks.intake import IntakePolicy, Outcome, take_event
from starksandbox.testing import SandboxHandle, running_sandbox
from tests.support.settings import settings_for

T = TypeVar("T")
ADMIN_TOKEN = "test-admin-token-4f9c2a7e"
FAST_POLICY = RetryPolicy(deadline=0.3, max_wait=0.02, initial=0.005)
REFUSED_BANK_CODE = "2001818"  # one digit short of 20018183: Stark Bank refuses it as invalid


MONEY_PATH: dict[str, Any] = {
    "admin_token": ADMIN_TOKEN,
    "public_key_refresh_min_seconds": 0,
    "forward_claim_idle_seconds": 0.2,
    "forward_max_deliveries": 3,
    "forward_block_ms": 0,
    "bank_retry_deadline_seconds": 0.3,
    "bank_timeout_seconds": 2,
    "webhook_replay_window_seconds": 3600,
}
"""What the money-path tests run with, over ``settings_for``'s: the console signed in by
``ADMIN_TOKEN``, entries claimable after 0.2 s, a bank that gives up after 0.3 s."""


class RelayServer:
    """The relay's API (role ``api``: routes only) served by uvicorn in a thread."""

    def __init__(self, settings: Settings) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._sock = sock
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(
            create_app(settings, role="api"), log_level="warning", access_log=False,
            lifespan="on", timeout_graceful_shutdown=1,
        )  # fmt: skip
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )

    def __enter__(self) -> RelayServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"relay did not start on {self.url}")
            time.sleep(0.005)
        self._await_start_up_calls()
        return self

    def _await_start_up_calls(self, seconds: float = 10.0) -> None:
        """Until the app's own start-up calls to Stark Bank (credentials, public key) are
        answered: a test that then points the process's SDK at another workspace
        (``point_sdk_at``) must not send them there."""
        app = self._server.config.app
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            services = getattr(app.state, "services", None)
            credentials = app.state.supervisor.heartbeat("stark_credentials").state
            if services is not None and services.public_key.pem and credentials != "starting":
                return
            time.sleep(0.005)

    def __exit__(self, *_: object) -> None:
        self._server.should_exit = True
        self._thread.join(10)

    @property
    def webhook_url(self) -> str:
        return self.url + WEBHOOK_PATH


async def relay_api(relay: Relay, method: str, path: str, **request: Any) -> httpx.Response:
    """One call to the relay's API on its port, from an async test."""
    assert relay.server is not None
    async with httpx.AsyncClient(base_url=relay.server.url, timeout=30) as client:
        return await client.request(method, path, **request)


def workspace_of(sb: SandboxHandle) -> str:
    """The workspace id the emulator names in its events: what Stark Bank reports for the
    project's credentials, so what production settings give as ``STARK_WORKSPACE_ID``."""
    assert sb.server.sandbox is not None, "the sandbox has not started"
    return sb.server.sandbox.ws.workspace_id


@dataclass
class Relay:
    """What a money-path test gets."""

    sb: SandboxHandle
    settings: Settings
    server: RelayServer | None

    def register_webhook(self) -> None:
        assert self.server is not None
        starkbank.webhook.create(url=self.server.webhook_url, subscriptions=["invoice", "transfer"])

    @asynccontextmanager
    async def services(self, policy: RetryPolicy = FAST_POLICY) -> AsyncIterator[Services]:
        bank = BankGateway(self.settings, policy=policy)
        async with open_services(self.settings, bank=bank) as s:
            await ensure_group(s.store)
            yield s

    def worker(
        self,
        services: Services,
        name: str = "test-worker",
        *,
        cls: type[ForwardingWorker] = ForwardingWorker,
        bank: BankGateway | None = None,
        destination: Destination | None = None,
    ) -> ForwardingWorker:
        """The worker the process builds from these settings, consuming as ``name``; or one of
        class ``cls`` (e.g. ``DiesBeforeCreate``), or talking to ``bank`` or sending to
        ``destination`` instead of the services' own."""
        usual = build_worker(services, name)
        if cls is ForwardingWorker and bank is None and destination is None:
            return usual
        return cls(
            services.store, bank or services.bank, destination or usual.destination,
            usual.config, name,
        )  # fmt: skip

    def run(self, body: Callable[[], Awaitable[T]]) -> T:
        return asyncio.run(_call(body))


async def _call(body: Callable[[], Awaitable[T]]) -> T:
    return await body()


@contextmanager
def relay_context(
    redis_url: str, key_prefix: str, *, serve: bool = True, sandbox: dict[str, Any] | None = None,
    **settings: Any,
) -> Iterator[Relay]:  # fmt: skip
    with running_sandbox(**(sandbox or {})) as sb:
        config = settings_for(sb, redis_url, key_prefix, **(MONEY_PATH | settings))
        if not serve:
            yield Relay(sb, config, None)
            return
        with RelayServer(config) as server:
            yield Relay(sb, config, server)


# --- shared steps of the tests -------------------------------------------------------------------


def create_invoice(amount: int, **fields: Any) -> Any:
    invoice = starkbank.Invoice(
        amount=amount, name="Maria Silva", tax_id="012.345.678-90", **fields
    )
    return starkbank.invoice.create([invoice])[0]


def credit_invoices(
    sb: SandboxHandle, amounts: list[int], paid: list[int] | None = None
) -> list[str]:
    """Create one invoice per amount in the emulator (SDK pointed at it) and pay each now, for
    `paid[i]` cents when given: Stark Bank then holds a ``credited`` log of each. Returns the
    ids in order. Needs ``pay_share=0`` (nothing paid behind the test's back)."""
    ids: list[str] = []
    for start in range(0, len(amounts), 100):
        chunk = amounts[start : start + 100]
        created = starkbank.invoice.create(
            [
                starkbank.Invoice(amount=a, name="Maria Silva", tax_id="012.345.678-90")
                for a in chunk
            ]
        )
        ids += [invoice.id for invoice in created]
    for index, invoice_id in enumerate(ids):
        sb.pay_invoice(invoice_id, amount=None if paid is None else paid[index])
    return ids


async def enqueue_credited(
    services: Services,
    invoice_id: str,
    amount: int,
    fee: int = 50,
    *,
    event_id: str | None = None,
    workspace_id: str | None = None,
) -> None:
    """Take a credited event that CLAIMS `amount` and `fee` (Stark Bank's record decides)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    event = parse_event(
        {
            "id": event_id or f"e{invoice_id}", "created": now, "subscription": "invoice",
            "workspaceId": workspace_id,
            "log": {"id": f"l{invoice_id}", "created": now, "type": "credited",
                    "invoice": {"id": invoice_id, "amount": amount, "fee": fee}},
        }
    )  # fmt: skip
    policy = IntakePolicy(replay_window_seconds=3600)
    assert await take_event(services.store, event, policy) is Outcome.ENQUEUED


async def ledger_of(services: Services, invoice_id: str) -> dict[str, str]:
    """The ledger hash of this invoice's forward (empty when there is none)."""
    return dict(await services.store.redis.hgetall(services.store.keys.webhook_ledger(invoice_id)))


async def ownership_calls(services: Services) -> tuple[int, int]:
    """(ownership reads, transfer.create calls) the workers counted."""
    counters = await services.store.redis.hgetall(services.store.keys.forward_counters())
    return int(counters.get("ownership_calls", 0)), int(counters.get("transfer_calls", 0))


def faults_after_ownership_read(worker: ForwardingWorker, relay: Relay, **faults: float) -> None:
    """Set `faults` in the emulator once the worker has read ownership, just before it
    creates transfers (so the fault hits the create, not the read)."""
    send = worker._send

    async def send_with_faults(live: list[Entry]) -> bool:
        relay.sb.set_faults(**faults)
        return await send(live)

    worker._send = send_with_faults  # type: ignore[method-assign]


class UnfamiliarAnswers(BankGateway):
    """The real gateway, but every create is answered with a status nobody has seen (not a
    verdict on an item, not a transient failure either: it counts against the budget)."""

    async def create_transfers(self, transfers: list[NewTransfer]) -> list[Transfer]:
        raise BankError("create_transfers", "unexpected HTTP status 418")


def unfamiliar_worker(relay: Relay, services: Services) -> ForwardingWorker:
    """A worker (consumer ``test-worker``) whose creates get only unfamiliar answers."""
    return relay.worker(services, bank=UnfamiliarAnswers(services.settings))


def misdirected_worker(relay: Relay, services: Services) -> ForwardingWorker:
    """A worker (consumer ``test-worker``) whose destination Stark Bank refuses (a bank code
    one digit short): every forward it sends is dead-lettered."""
    usual = Destination.from_settings(services.settings)
    wrong = dataclasses.replace(usual, bank_code=REFUSED_BANK_CODE)
    return relay.worker(services, destination=wrong)


class Killed(BaseException):
    """The process dies (not an error any code of the worker handles)."""


class DiesBeforeCreate(ForwardingWorker):
    """Dies after it read ownership, before it calls ``transfer.create``: nothing was sent."""

    async def _send(self, live: list[Entry]) -> bool:
        raise Killed


class DiesAfterCreate(ForwardingWorker):
    """Dies after Stark Bank created the transfers, before recording or acknowledging them."""

    async def _settle_created(self, entries: Sequence[Entry], created: list[Transfer]) -> None:
        raise Killed


def forwards_of(invoice_id: str) -> list[Any]:
    """Every transfer Stark Bank holds for this invoice (all attempts)."""
    return list(starkbank.transfer.query(tags=[f"invoice:{invoice_id}"]))


def wait_for(condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


async def await_for(
    condition: Callable[[], Awaitable[bool]], within: float = 10.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def stream_length(services: Services) -> int:
    return int(await services.store.redis.xlen(services.store.keys.forward_stream()))


async def forward_all(worker: ForwardingWorker, services: Services, within: float = 10.0) -> None:
    """Step the worker until nothing is waiting or pending."""
    deadline = time.monotonic() + within
    while True:
        await worker.step(block=False)
        state = await stream_state(services.store)
        if state.depth == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"forward stream not drained: {state}")
        await asyncio.sleep(0.01)


def late(days: int) -> str:
    """A payment moment `days` after now (emulator wire format)."""
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
