"""``starksandbox``: run the emulator (``serve``), and drive one that runs (``summary``,
``pay``, ``faults``, ``clock advance``, ``deposit``, ``drain``, ``reset``) over its control
endpoints, as tests and demos do (``--url``, default the one ``serve`` listens on; ``--json``
for programs).

``serve``: a wrong option (a ``--public-key`` or ``--signing-key`` file that is missing or not
a secp256k1 PEM) prints one line naming it and exits 2; a port that cannot be bound (in use)
prints one line and exits 1. "listening" is printed only once the port is bound. A control
command that fails (no emulator at the URL, a refusal) prints one line and exits 1.
"""

from __future__ import annotations

import errno
import logging
import socket
import sys
from collections.abc import Callable
from dataclasses import fields
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any, NoReturn

import structlog
import typer
import uvicorn
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption
from typer.models import CommandFunctionType

from starksandbox import remote
from starksandbox.app import Sandbox
from starksandbox.auth import load_public_key
from starksandbox.config import DEFAULT_RETRY_SCHEDULE, Faults, SandboxConfig, ThrottleBody
from starksandbox.keys import load_private_pem
from starksandbox.remote import (
    API_ERROR_RATE,
    API_LATENCY,
    API_LOST_RESPONSE_RATE,
    API_REQUESTS_PER_SECOND,
    API_THROTTLE_BODY,
    API_THROTTLE_RATE,
    DEFAULT_HOST,
    DEFAULT_PORT,
    TRANSFER_FAIL_RATE,
    TRANSFER_REFUSED_AFTER_CREATE_RATE,
    WEBHOOK_DELAY,
    WEBHOOK_DROP_RATE,
    WEBHOOK_DUPLICATE_RATE,
    WEBHOOK_REORDER_WINDOW,
    fault_option,
)


# --- help that reads: no typer type labels (<bool>, <int range>), a bare group prints its help
# (starkrelay's command line does the same; the emulator imports nothing from starkrelay)
class _NamedArgument(TyperArgument):
    def display_type_rich(self, ctx: Any) -> str | None:
        return None


def _without_type_labels(params: list[Any]) -> list[Any]:
    for param in params:
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""
        elif type(param) is TyperArgument and param.metavar:
            param.__class__ = _NamedArgument
    return params


class _Command(TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:
        return _without_type_labels(super().get_params(ctx))


class _Group(TyperGroup):
    def get_params(self, ctx: Any) -> list[Any]:
        return _without_type_labels(super().get_params(ctx))


class _Typer(typer.Typer):
    def __init__(self, **options: Any) -> None:
        super().__init__(cls=_Group, invoke_without_command=True, **options)
        self.callback()(_help_when_bare)

    def command(
        self, name: str | None = None, *, cls: type[TyperCommand] | None = None, **options: Any
    ) -> Callable[[CommandFunctionType], CommandFunctionType]:
        return super().command(name, cls=cls or _Command, **options)


def _help_when_bare(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help(), nl=False)
        raise typer.Exit(0)


app = _Typer(help="starksandbox: a local Stark Bank v2 API for the official SDK.")
clock_app = _Typer(help="The emulator's clock.")
app.add_typer(clock_app, name="clock")


def _print_version(value: bool) -> None:
    if value:
        try:
            installed = version("starkrelay")  # the distribution that ships starksandbox
        except PackageNotFoundError:
            installed = "unknown"
        typer.echo(f"starksandbox {installed}")
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
    """starksandbox: a local Stark Bank v2 API that the official SDK talks to unchanged."""
    _help_when_bare(ctx)


def _fail(message: str, status: int = 2) -> NoReturn:
    typer.echo(f"starksandbox: {message}", err=True)
    raise typer.Exit(status)


def _read_pem(option: str, path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not text"
        _fail(f"{option} {path}: cannot read the file ({reason}); expected a PEM file")


def _project_keys(project_ids: list[str], paths: list[Path]) -> dict[str, str]:
    """project id -> public key PEM, each file read and checked (one line per problem)."""
    if len(project_ids) != len(paths):
        _fail("give one --public-key PATH per --project-id ID, in the same order")
    projects: dict[str, str] = {}
    for project_id, path in zip(project_ids, paths, strict=True):
        pem = _read_pem("--public-key", path)
        try:
            load_public_key(pem)
        except Exception:  # cryptography raises ValueError or UnsupportedAlgorithm
            _fail(
                f"--public-key {path}: expected a secp256k1 public key in PEM form "
                "(-----BEGIN PUBLIC KEY-----), e.g. keys/public-key.pem from starkrelay keygen"
            )
        projects[project_id] = pem
    return projects


def _bound_socket(host: str, port: int) -> socket.socket:
    """A socket bound to host:port, or one line and exit 1 (in use, not allowed, bad host)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except (OSError, OverflowError) as error:
        _fail(f"cannot listen on {host}:{port} ({error})", 1)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as error:
        sock.close()
        reason = "the port is in use" if error.errno == errno.EADDRINUSE else error.strerror
        _fail(f"cannot listen on {host}:{port}: {reason}", 1)
    return sock


def _seconds_list(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise typer.BadParameter(
            f"expected comma-separated seconds like 300,1800,7200, got {text!r}"
        ) from None


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(metavar="HOST", help="Interface to listen on.")
    ] = DEFAULT_HOST,
    port: Annotated[
        int, typer.Option(min=1, max=65535, metavar="PORT", help="TCP port (1-65535).")
    ] = DEFAULT_PORT,
    project_id: Annotated[
        list[str],
        typer.Option(
            metavar="ID", help="Project id allowed to call (repeatable; pairs with --public-key)."
        ),
    ] = [],  # noqa: B006
    public_key: Annotated[
        list[Path],
        typer.Option(
            metavar="PATH", help="PEM file of that project's public key (repeatable, same order)."
        ),
    ] = [],  # noqa: B006
    pay_share: Annotated[
        float, typer.Option(metavar="RATE", help="Share (0-1) of new invoices paid automatically.")
    ] = 0.9,
    pay_delay: Annotated[
        float,
        typer.Option(metavar="SECONDS", help="Seconds from invoice creation to automatic payment."),
    ] = 60.0,
    invoice_fee: Annotated[
        int, typer.Option(metavar="CENTS", help="Fee in cents per credited invoice.")
    ] = 50,
    transfer_fee: Annotated[
        int, typer.Option(metavar="CENTS", help="Fee in cents per transfer.")
    ] = 0,
    initial_balance: Annotated[
        int, typer.Option(metavar="CENTS", help="Balance in cents at start.")
    ] = 0,
    transfer_processing_delay: Annotated[
        float,
        typer.Option(
            metavar="SECONDS",
            help="Seconds per transfer step (created->processing->success; sending half way).",
        ),
    ] = 2.0,
    retry_schedule: Annotated[
        str,
        typer.Option(
            metavar="SECONDS,...", help="Seconds between webhook delivery retries, comma-separated."
        ),
    ] = ",".join(f"{s:g}" for s in DEFAULT_RETRY_SCHEDULE),
    delivery_timeout: Annotated[
        float, typer.Option(metavar="SECONDS", help="Seconds a webhook receiver has to answer.")
    ] = 10.0,
    seed: Annotated[
        int | None,
        typer.Option(metavar="N", help="Random seed (ids, auto-pay draws, fault draws)."),
    ] = None,
    signing_key: Annotated[
        Path | None,
        typer.Option(
            metavar="PATH",
            help="PEM file of the emulator's secp256k1 signing key (default: generated).",
        ),
    ] = None,
    workspace_id: Annotated[
        str | None,
        typer.Option(
            metavar="DIGITS",
            help="Workspace id shown in events (default: drawn from the seed). With a shared "
            "--signing-key, two emulators play two workspaces whose events both verify.",
        ),
    ] = None,
    api_error_rate: Annotated[float, API_ERROR_RATE] = 0.0,
    api_throttle_rate: Annotated[float, API_THROTTLE_RATE] = 0.0,
    api_throttle_retry_after: Annotated[
        int | None,
        fault_option(
            "whole seconds sent as Retry-After with those 429s (default: none).",
            metavar="SECONDS",
            min=0,
        ),
    ] = None,
    api_throttle_body: Annotated[ThrottleBody, API_THROTTLE_BODY] = ThrottleBody.json,
    api_requests_per_second: Annotated[int, API_REQUESTS_PER_SECOND] = 0,
    api_lost_response_rate: Annotated[float, API_LOST_RESPONSE_RATE] = 0.0,
    api_latency: Annotated[float, API_LATENCY] = 0.0,
    transfer_refused_after_create_rate: Annotated[float, TRANSFER_REFUSED_AFTER_CREATE_RATE] = 0.0,
    webhook_drop_rate: Annotated[float, WEBHOOK_DROP_RATE] = 0.0,
    webhook_duplicate_rate: Annotated[float, WEBHOOK_DUPLICATE_RATE] = 0.0,
    webhook_delay: Annotated[float, WEBHOOK_DELAY] = 0.0,
    webhook_reorder_window: Annotated[float, WEBHOOK_REORDER_WINDOW] = 0.0,
    transfer_fail_rate: Annotated[float, TRANSFER_FAIL_RATE] = 0.0,
    log_level: Annotated[
        str, typer.Option(metavar="LEVEL", help="Log level: DEBUG, INFO, WARNING or ERROR.")
    ] = "INFO",
) -> None:
    """Serve the Stark Bank v2 API emulator until interrupted (Ctrl-C)."""
    given = dict(locals(), api_throttle_body=api_throttle_body.value)  # faults by field name
    level = logging.getLevelName(log_level.upper())
    if not isinstance(level, int):
        raise typer.BadParameter(f"unknown log level {log_level!r}")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(level))
    projects = _project_keys(project_id, public_key)
    signing_pem = _read_pem("--signing-key", signing_key) if signing_key else None
    if signing_pem is not None:
        try:
            load_private_pem(signing_pem)
        except Exception:
            _fail(f"--signing-key {signing_key}: expected a secp256k1 private key in PEM form")
    try:
        faults = Faults(**{field.name: given[field.name] for field in fields(Faults)})
        config = SandboxConfig(
            projects=projects,
            pay_share=pay_share,
            pay_delay=pay_delay,
            invoice_fee=invoice_fee,
            transfer_fee=transfer_fee,
            initial_balance=initial_balance,
            transfer_processing_delay=transfer_processing_delay,
            retry_schedule=_seconds_list(retry_schedule),
            delivery_timeout=delivery_timeout,
            seed=seed,
            signing_key=signing_pem,
            workspace_id=workspace_id,
            faults=faults,
        )
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    sock = _bound_socket(host, port)
    sandbox = Sandbox(config, base_url=f"http://{host}:{port}")
    server = uvicorn.Server(
        uvicorn.Config(
            sandbox, host=host, port=port, log_level="warning", access_log=False, lifespan="on"
        )
    )
    typer.echo(
        f"starksandbox listening on http://{host}:{port} for projects {sorted(projects) or 'none'}"
    )
    sys.stdout.flush()
    server.run(sockets=[sock])


# --- driving a running emulator (starksandbox.remote) -------------------------------------
app.command()(remote.summary)
app.command()(remote.pay)
app.command("faults")(remote.faults_command)
app.command()(remote.deposit)
app.command()(remote.drain)
app.command()(remote.reset)
clock_app.command("advance")(remote.clock_advance)
