"""Long-running processes: ``serve``, ``api``, ``worker``, each the app of its role served by
uvicorn (the worker on ``WORKER_METRICS_HOST:WORKER_METRICS_PORT``, for its probes and scrapes).

Each checks the Stark Bank credentials first (one authenticated call): refused credentials
print one line naming the variables and exit with status 2; Stark Bank unreachable is logged
and the check goes on in the background (readiness names ``stark_credentials`` meanwhile).
A background part that dies stops the process with a non-zero status (1, or 2 for a refusal
found later), so the orchestrator restarts it.
"""

from __future__ import annotations

import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from starkrelay.cli.common import (
    HostOption,
    PortOption,
    app,
    fail,
    load_or_exit,
    log,
    with_redis,
)
from starkrelay.core.heap import settle_heap
from starkrelay.core.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from starkrelay.api.deps import Role

PRECHECK_SECONDS = 5.0
"""How long the command line retries an unreachable Stark Bank before starting anyway."""

WorkersOption = Annotated[
    int,
    typer.Option(
        min=1,
        metavar="N",
        help="API processes sharing the port (uvicorn workers: one per core); "
        "more than 1 needs REDIS_URL.",
    ),
]


@app.command()
def serve(host: HostOption = "127.0.0.1", port: PortOption = 8000) -> None:
    """API, campaign scheduler, webhook registration, forwarding worker and reconciliation,
    all in one process."""
    _serve("serve", load_or_exit(), host, port)


@app.command()
def api(
    host: HostOption = "127.0.0.1", port: PortOption = 8000, workers: WorkersOption = 1
) -> None:
    """The HTTP API only (webhooks, health, metrics, status); any number of replicas.

    --workers N runs N API processes behind the one port (uvicorn's process manager restarts
    one that dies); run the forwarding worker beside them with starkrelay worker.
    """
    settings = load_or_exit()
    if workers == 1:
        _serve("api", settings, host, port)
        return
    import uvicorn

    if settings.redis_url is None:
        fail("REDIS_URL: missing; --workers above 1 needs the Redis every process shares")
    verify_credentials_or_exit(settings)  # once, before the processes start
    uvicorn.run(
        "starkrelay.cli.serve:api_app",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
    )


def api_app() -> FastAPI:
    """The ``api`` app of one ``api --workers N`` process, from this process's settings."""
    from starkrelay.app import create_app

    application = create_app(load_or_exit(), role="api")
    settle_heap()  # before its start-up: uvicorn's process manager gives no later hook
    return application


def verify_credentials_or_exit(settings: Settings) -> bool:
    """True when Stark Bank accepted the credentials; False when it could not be reached
    within ``PRECHECK_SECONDS`` (the process checks again in the background). Refused: one
    line on stderr and exit status 2."""
    import anyio

    from starkrelay.bank import BankError, BankGateway, BankUnavailableError, RetryPolicy
    from starkrelay.bank.credentials import credentials_refusal

    bank = BankGateway(settings)
    policy = RetryPolicy(
        deadline=min(PRECHECK_SECONDS, settings.bank_retry_deadline_seconds),
        max_wait=min(1.0, settings.bank_retry_max_wait_seconds),
    )
    try:
        anyio.run(bank.verify_credentials, policy)
    except BankUnavailableError as error:
        log.warning("bank.credentials.unverified", error=str(error), note="checking again")
        return False
    except BankError as error:
        fail(credentials_refusal(error, settings) or str(error), 2)
    return True


def _serve(role: Role, settings: Settings, host: str, port: int) -> None:
    """Serve the app of ``role`` on ``host:port`` until SIGTERM or SIGINT (a graceful stop,
    exit status 0) or until a part dies (``Fatal.exit_code``)."""
    verified = verify_credentials_or_exit(settings)
    import uvicorn  # after the check: a refusal is reported before the heavy imports

    from starkrelay.app import create_app

    class Server(uvicorn.Server):
        """uvicorn, except that the stop signal it caught is not raised again after its
        graceful shutdown: the process then exits 0, like one that stopped on its own; and
        that once started (the app's start-up done) it settles the heap (``core.heap``)."""

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            settle_heap()

        @contextmanager
        def capture_signals(self) -> Iterator[None]:
            handled = (signal.SIGINT, signal.SIGTERM)
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    with with_redis(settings) as ready:
        server: uvicorn.Server | None = None

        def stop_server(_: object) -> None:
            if server is not None:
                server.should_exit = True

        application = create_app(
            ready, role=role, on_fatal=stop_server, credentials_verified=verified
        )
        config = uvicorn.Config(
            application, host=host, port=port, log_config=None, access_log=False
        )
        server = Server(config)
        server.run()
    fatal = application.state.supervisor.fatal
    if fatal is not None:
        raise typer.Exit(fatal.exit_code)


@app.command()
def worker() -> None:
    """Campaign scheduler, webhook registration, forwarding worker and reconciliation; no
    inbound traffic but /metrics and health on WORKER_METRICS_HOST:WORKER_METRICS_PORT."""
    settings = load_or_exit()
    _serve("worker", settings, settings.worker_metrics_host, settings.worker_metrics_port)
