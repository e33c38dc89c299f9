"""CPU accounting from /proc and a private, pinned redis-server for the relay benchmark.

- ``cpu_seconds(pid)``: user + system CPU of a process and every live descendant (uvicorn
  worker processes included), read from ``/proc/<pid>/stat``;
- ``self_cpu_seconds()``: this process's own CPU (the load client);
- ``loadavg()``: the first three fields of ``/proc/loadavg``;
- ``pinned_redis(core)``: a throw-away ``redis-server`` on a free port, pinned with
  ``taskset``, without persistence; stopped on exit.
"""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis

_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # the command name (field 2) may hold spaces: split after its closing parenthesis
    return text[text.rindex(")") + 2 :].split()


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(child) for child in task.read_text().split()]
        except FileNotFoundError:
            continue
    return found


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` and its live descendants (fields 14 and 15 of stat)."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        fields = _stat_fields(current)
        if fields is None:
            continue
        # after the name: state is fields[0], so utime (field 14) is fields[11]
        total += (int(fields[11]) + int(fields[12])) / _TICKS
        pending += _children(current)
    return total


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclass
class RedisServer:
    url: str
    pid: int


@contextmanager
def pinned_redis(core: int) -> Iterator[RedisServer]:
    """A private redis-server pinned to `core` (no RDB, no AOF); killed on exit."""
    port = free_port()
    process = subprocess.Popen(
        ["taskset", "-c", str(core), "redis-server", "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--protected-mode", "yes"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the benchmark's redis-server did not start") from None
                time.sleep(0.05)
        client.close()
        yield RedisServer(url=url, pid=process.pid)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
