"""Run a starksandbox on 127.0.0.1 in a background thread (for tests and other programs).

``SandboxServer(config).start()`` binds a free port (or the one given), serves with uvicorn
on its own event loop in a daemon thread, and returns once the emulator answers.
``stop()`` shuts it down and waits for the thread. Usable as a context manager.
``budget_clock`` is handed to ``Sandbox`` (the per-second request budget's clock).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType

import uvicorn

from starksandbox.app import Sandbox
from starksandbox.config import SandboxConfig


class _ThreadServer(uvicorn.Server):
    """uvicorn, but told to stop through its own loop instead of a 100 ms polling tick."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        if not self.should_exit:
            await self._stop.wait()

    def request_stop(self) -> None:
        self.should_exit = True
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)


class SandboxServer:
    """One emulator listening on ``host:port``; ``url`` is its base URL once started."""

    def __init__(
        self,
        config: SandboxConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        budget_clock: Callable[[], float] | None = None,
    ) -> None:
        self.config = config or SandboxConfig()
        self.host = host
        self.port = port
        self.budget_clock = budget_clock
        self.url = ""
        self.sandbox: Sandbox | None = None
        self._server: _ThreadServer | None = None
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 10.0) -> SandboxServer:
        """Serve in a background thread; returns when listening. Raises if it does not start."""
        if self._thread is not None:
            raise RuntimeError("this SandboxServer is already running")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self.url = f"http://{self.host}:{self.port}"
        self.sandbox = Sandbox(self.config, base_url=self.url, budget_clock=self.budget_clock)
        server_config = uvicorn.Config(
            self.sandbox,
            log_level="warning",
            access_log=False,
            lifespan="on",
            http="httptools",
            loop="uvloop",
            timeout_graceful_shutdown=1,
        )
        server = _ThreadServer(server_config)
        self._server = server
        self._thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": [sock]},
            name=f"starksandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"starksandbox did not start on {self.url}")
            time.sleep(0.005)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Shut down and wait for the serving thread; safe to call twice."""
        if self._server is not None:
            self._server.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)
        self._server = None
        self._thread = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
