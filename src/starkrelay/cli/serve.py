"""Long-running processes: ``serve``, ``api``, ``worker``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from starkrelay.cli.common import HostOption, PortOption, app, fail, load_or_exit, with_redis
from starkrelay.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

WorkersOption = Annotated[
    int,
    typer.Option(
        min=1,
        help="API processes sharing the port (uvicorn workers: one per core); "
        "more than 1 needs REDIS_URL.",
    ),
]


@app.command()
def serve(host: HostOption = "127.0.0.1", port: PortOption = 8000) -> None:
    """API, campaign scheduler and forwarding worker in one process (the default)."""
    _serve("serve", host, port)


@app.command()
def api(
    host: HostOption = "127.0.0.1", port: PortOption = 8000, workers: WorkersOption = 1
) -> None:
    """The HTTP API only (webhooks, health, metrics, status); any number of replicas.

    ``--workers N`` runs N API processes behind the one port (uvicorn's process manager
    restarts one that dies); run the forwarding worker beside them with ``starkrelay worker``.
    """
    if workers == 1:
        _serve("api", host, port)
        return
    import uvicorn

    settings = load_or_exit()
    if settings.redis_url is None:
        fail("REDIS_URL: missing; --workers above 1 needs the Redis every process shares")
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

    return create_app(load_or_exit(), role="api")


def _serve(role: str, host: str, port: int) -> None:
    import uvicorn

    from starkrelay.app import create_app

    settings = load_or_exit()
    with with_redis(settings) as ready:
        application = create_app(ready, role="serve" if role == "serve" else "api")
        uvicorn.run(application, host=host, port=port, log_config=None, access_log=False)


@app.command()
def worker() -> None:
    """Campaign scheduler, webhook registration and forwarding worker; no inbound traffic."""
    import anyio

    from starkrelay.app import run_worker

    settings = load_or_exit()

    async def main(ready: Settings) -> None:
        import signal

        stop = anyio.Event()

        async def on_signal() -> None:
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for _ in signals:
                    stop.set()
                    return

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(on_signal)
            await run_worker(ready, stop=stop)
            tasks.cancel_scope.cancel()

    with with_redis(settings) as ready:
        anyio.run(main, ready)
