"""What every ``starkrelay`` command shares: the typer apps, consoles and plumbing.

``load_or_exit`` reads the settings (a wrong one prints one line naming the variable and exits
with status 2); ``run_with_services`` reads them (unless given) and opens Redis and the bank
gateway for one command, with an embedded Valkey when ``REDIS_URL`` is unset (refused for
commands that report shared state). A command that cannot do its work prints one line on
stderr and exits non-zero (``fail``, or ``failing`` for the errors it expects). Every command
that lists or reports prints tables for people (``new_table``) and, with ``--json``
(``JsonOption``), one JSON document on stdout for programs (``print_json``). A bare command
group (``starkrelay``, ``starkrelay campaign``...) prints its help and exits 0.
"""

from __future__ import annotations

import asyncio
import json
import signal
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import structlog
import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption
from typer.models import CommandFunctionType

from starkrelay.core.logs import configure_logging
from starkrelay.core.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from starkrelay.api.deps import Services

T = TypeVar("T")


class _NamedArgument(TyperArgument):
    def display_type_rich(self, ctx: Any) -> str | None:
        return None


def _without_type_labels(params: list[Any]) -> list[Any]:
    """Help shows a flag bare, and an argument by its metavar only: typer labels each with its
    type (``<bool>``, --help included; ``<int range>``). Typer 0.29 has no setting for it: an
    argument's type label ignores its metavar, and typer makes --help and its own options."""
    for param in params:
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""
        elif type(param) is TyperArgument and param.metavar:
            param.__class__ = _NamedArgument
    return params


class Command(TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:
        return _without_type_labels(super().get_params(ctx))


class Group(TyperGroup):
    def get_params(self, ctx: Any) -> list[Any]:
        return _without_type_labels(super().get_params(ctx))


class Typer(typer.Typer):
    """``typer.Typer`` whose groups and commands show flags without a value label, and
    whose bare group prints its help and exits 0 (typer's ``no_args_is_help`` exits 2)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(cls=Group, invoke_without_command=True, **options)
        self.callback()(help_when_bare)

    def command(
        self, name: str | None = None, *, cls: type[TyperCommand] | None = None, **options: Any
    ) -> Callable[[CommandFunctionType], CommandFunctionType]:
        return super().command(name, cls=cls or Command, **options)


def help_when_bare(ctx: typer.Context) -> None:
    """In a group's callback: without a subcommand, print the group's help and exit 0."""
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help(), nl=False)
        raise typer.Exit(0)


app = Typer(
    name="starkrelay",
    help="Issue Stark Bank invoices on a schedule and forward every credited payment once.",
)
campaign_app = Typer(help="The invoice campaign.")
webhook_app = Typer(help="Our Stark Bank webhook subscription.")
dead_letters_app = Typer(
    help="Forwards given up on: list them, re-drive them once the cause is fixed."
)
app.add_typer(campaign_app, name="campaign")
app.add_typer(webhook_app, name="webhook")
app.add_typer(dead_letters_app, name="dead-letters")

console = Console()
errors = Console(stderr=True)
log = structlog.get_logger("starkrelay.cli")

HostOption = Annotated[
    str, typer.Option(metavar="HOST", help="Interface to listen on (0.0.0.0 in containers).")
]
PortOption = Annotated[
    int, typer.Option(min=1, max=65535, metavar="PORT", help="TCP port to listen on (1-65535).")
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON document instead of tables.")
]


AMOUNT_COLUMNS = frozenset({"amount", "forwarded", "still held", "to recover", "net"})


def new_table(title: str, *columns: str, style: str = "none", **options: Any) -> Table:
    """A table of ``columns``, amounts (``AMOUNT_COLUMNS``) right-aligned; ``options`` apply
    to every column."""
    shown = Table(title=title, style=style)
    for column in columns:
        shown.add_column(column, justify="right" if column in AMOUNT_COLUMNS else "left", **options)
    return shown


def print_json(data: Any) -> None:
    """``data`` as one JSON document on stdout (never wrapped; datetimes as text)."""
    typer.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


@contextmanager
def working(message: str, *, quiet: bool = False) -> Iterator[None]:
    """A spinner with ``message`` on a terminal while the work runs; none when ``quiet``
    (``--json``: stdout carries the document only)."""
    if quiet:
        yield
        return
    with console.status(message):
        yield


def _print_version(value: bool) -> None:
    """The installed version (``unknown`` when run from a bare checkout), then exit."""
    from importlib.metadata import PackageNotFoundError, version

    if value:
        try:
            installed = version("starkrelay")
        except PackageNotFoundError:
            installed = "unknown"
        console.print(f"starkrelay {installed}", markup=False, highlight=False)
        raise typer.Exit


@app.callback()
def main(
    ctx: typer.Context,
    _version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Issue Stark Bank invoices on a schedule and forward every credited payment once."""
    help_when_bare(ctx)


def load_or_exit() -> Settings:
    try:
        settings = load_settings()
    except SettingsError as error:
        fail(str(error), 2)
    configure_logging(settings.log_level, settings.log_format)
    return settings


@contextmanager
def with_redis(settings: Settings) -> Iterator[Settings]:
    """``settings`` unchanged when REDIS_URL is set, else pointed at an embedded Valkey that
    is stopped on the way out, also when the process is told to stop with SIGTERM (before the
    server runs it exits with status 143; once it runs, the server stops gracefully)."""
    if settings.redis_url is not None:
        yield settings
        return
    from starkrelay.core.embedded_redis import embedded_url, start_embedded_valkey

    server = start_embedded_valkey()
    url = embedded_url(server)
    log.warning("redis.embedded.started", url=url, note="REDIS_URL unset; data is not kept")
    # SIGTERM's default action kills the process at once, which would leave the Valkey child
    # running, re-parented to PID 1. Turned into SystemExit(143), it unwinds through the
    # `finally` below instead. (While the server runs, it handles SIGTERM itself.)
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
    work: Callable[[Services], Awaitable[T]],
    *,
    settings: Settings | None = None,
    reads_state: bool = False,
) -> T:
    """Open the services for ``settings`` (``load_or_exit()`` when not given) and run
    ``work(services)`` to completion.

    ``reads_state``: the command reports what the running service keeps in Redis, so an
    embedded (empty) Valkey would mislead: REDIS_URL is then required.
    """
    from starkrelay.app import open_services

    settings = load_or_exit() if settings is None else settings
    if reads_state and settings.redis_url is None:
        fail("REDIS_URL: missing; expected the redis:// URL the service uses")

    async def main(ready: Settings) -> T:
        async with open_services(ready) as services:
            return await work(services)

    with with_redis(settings) as ready:
        return asyncio.run(main(ready))


def fail(message: str, status: int = 1) -> NoReturn:
    """``starkrelay: <message>`` as one line on stderr, and exit with ``status``."""
    errors.print(f"starkrelay: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(status)


@contextmanager
def failing(*expected: type[Exception], why: str = "{error}") -> Iterator[None]:
    """An ``expected`` error raised in the block ends the command: ``why`` (with ``{error}``
    filled in) as one line on stderr, and exit status 1."""
    try:
        yield
    except expected as error:
        fail(why.format(error=error))


def when(epoch: float | None, *, precise: bool = False) -> str:
    """UTC time; ``precise`` adds milliseconds (compressed demo intervals)."""
    if epoch is None:
        return "-"
    moment = datetime.fromtimestamp(epoch, UTC)
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    return f"{text}.{moment.microsecond // 1000:03d} UTC" if precise else f"{text} UTC"
