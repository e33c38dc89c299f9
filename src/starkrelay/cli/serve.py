"""Long-running processes: ``serve``, ``api``, ``worker``."""

from __future__ import annotations

from starkrelay.cli.common import HostOption, PortOption, app, load_or_exit, with_redis
from starkrelay.settings import Settings


@app.command()
def serve(host: HostOption = "127.0.0.1", port: PortOption = 8000) -> None:
    """API, campaign scheduler and forwarding worker in one process (the default)."""
    _serve("serve", host, port)


@app.command()
def api(host: HostOption = "127.0.0.1", port: PortOption = 8000) -> None:
    """The HTTP API only (webhooks, health, metrics, status); any number of replicas."""
    _serve("api", host, port)


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
