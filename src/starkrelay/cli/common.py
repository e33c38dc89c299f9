"""What every ``starkrelay`` command shares: the typer apps, consoles and plumbing.

``load_or_exit`` reads the settings (a wrong one prints one line naming the variable and exits
with status 2); ``run_with_services`` opens Redis and the bank gateway for one command, with an
embedded Valkey when ``REDIS_URL`` is unset (refused for commands that report shared state).
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, TypeVar

import structlog
import typer
from rich.console import Console

from starkrelay.core.logs import configure_logging
from starkrelay.core.money import brl
from starkrelay.core.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from starkrelay.api.deps import Services

T = TypeVar("T")
app = typer.Typer(
    name="starkrelay",
    help="Issue Stark Bank invoices on a schedule and forward every credited payment once.",
    no_args_is_help=True,
)
campaign_app = typer.Typer(help="The invoice campaign.", no_args_is_help=True)
webhook_app = typer.Typer(help="Our Stark Bank webhook subscription.", no_args_is_help=True)
app.add_typer(campaign_app, name="campaign")
dead_letters_app = typer.Typer(
    help="Forwards given up on: list them, re-drive them once the cause is fixed.",
    no_args_is_help=True,
)
app.add_typer(webhook_app, name="webhook")
app.add_typer(dead_letters_app, name="dead-letters")

console = Console()
errors = Console(stderr=True)
log = structlog.get_logger("starkrelay.cli")

HostOption = Annotated[str, typer.Option(help="Interface to listen on (0.0.0.0 in containers).")]
PortOption = Annotated[int, typer.Option(min=1, max=65535, help="TCP port to listen on (1-65535).")]


def package_version(distribution: str) -> str:
    """The installed version of `distribution` (``unknown`` when run from a bare checkout)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"


def _print_version(value: bool) -> None:
    if value:
        console.print(f"starkrelay {package_version('starkrelay')}", markup=False, highlight=False)
        raise typer.Exit


@app.callback()
def main(
    _version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Issue Stark Bank invoices on a schedule and forward every credited payment once."""


def load_or_exit() -> Settings:
    try:
        settings = load_settings()
    except SettingsError as error:
        errors.print(f"starkrelay: {error}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    configure_logging(settings.log_level, settings.log_format)
    return settings


@contextmanager
def with_redis(settings: Settings) -> Iterator[Settings]:
    """``settings`` unchanged when REDIS_URL is set, else pointed at an embedded Valkey that
    is stopped on the way out, also when the process is told to stop with SIGTERM (it then
    exits with status 143 after its graceful shutdown)."""
    if settings.redis_url is not None:
        yield settings
        return
    from starkrelay.core.embedded_redis import embedded_url, start_embedded_valkey

    server = start_embedded_valkey()
    url = embedded_url(server)
    log.warning("redis.embedded.started", url=url, note="REDIS_URL unset; data is not kept")
    # SIGTERM's default action kills the process at once (uvicorn re-raises it after its own
    # graceful stop), which would leave the Valkey child running, re-parented to PID 1.
    # Turned into SystemExit(143), it unwinds through the `finally` below instead.
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm) if in_main_thread else None
    try:
        yield settings.model_copy(update={"redis_url": url})
    finally:
        server.stop()
        log.info("redis.embedded.stopped", url=url)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def run_with_services(
    settings: Settings, work: Callable[[Services], Awaitable[T]], *, reads_state: bool = False
) -> T:
    """Open the services for ``settings`` and run ``work(services)`` to completion.

    ``reads_state``: the command reports what the running service keeps in Redis, so an
    embedded (empty) Valkey would mislead: REDIS_URL is then required.
    """
    from starkrelay.app import open_services

    if reads_state and settings.redis_url is None:
        fail("REDIS_URL: missing; expected the redis:// URL the service uses")

    async def main(ready: Settings) -> T:
        async with open_services(ready) as services:
            return await work(services)

    with with_redis(settings) as ready:
        return asyncio.run(main(ready))


def fail(message: str) -> None:
    errors.print(f"starkrelay: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def when(epoch: float | None, *, precise: bool = False) -> str:
    """UTC time; ``precise`` adds milliseconds (compressed demo intervals)."""
    if epoch is None:
        return "-"
    moment = datetime.fromtimestamp(epoch, UTC)
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    return f"{text}.{moment.microsecond // 1000:03d} UTC" if precise else f"{text} UTC"


cents = brl
"""Cents as people read them (``core.money.brl``)."""
