"""A Redis server of the test's own (a test that stops, delays or locks Redis never touches the
shared one): ``redis-server`` on a free 127.0.0.1 port, no persistence, stopped on exit."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class OwnRedis:
    """A ``redis-server`` on ``port`` (not started until ``start``)."""

    def __init__(self, port: int | None = None, password: str | None = None) -> None:
        self.port = port or free_port()
        self.password = password
        self._process: subprocess.Popen[bytes] | None = None

    def url(self, password: str | None = None) -> str:
        auth = f":{password}@" if password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> OwnRedis:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not on the PATH")
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no"]
        if self.password:
            command += ["--requirepass", self.password]
        self._process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = redis.Redis(port=self.port, password=self.password, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        client.close()
        return self

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)
        self._process = None


@contextmanager
def own_redis(port: int | None = None, password: str | None = None) -> Iterator[OwnRedis]:
    """An ``OwnRedis`` (started by the caller when it chooses), always stopped at the end."""
    server = OwnRedis(port, password)
    try:
        yield server
    finally:
        server.stop()


def relay_environment(**values: Any) -> dict[str, str]:
    """This process's environment without any starkrelay setting, plus ``values``
    (upper-cased names)."""
    prefixes = ("STARK", "REDIS", "API_", "ENVIRONMENT", "WORKER_", "STARTUP_", "CAMPAIGN_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update({name.upper(): str(value) for name, value in values.items()})
    return env


def starkrelay_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "starkrelay", *args]


def stop_process(process: subprocess.Popen[bytes], timeout: float = 20) -> int:
    """SIGTERM, wait, and the exit status (SIGKILL if it does not stop)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return int(process.returncode)


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
