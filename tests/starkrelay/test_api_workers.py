"""``starkrelay api --workers N``: N API processes behind one port, all answering webhooks."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
from tests.support.ports import free_port
from tests.support.processes import relay_environment, starkrelay_command

from starksandbox.testing import SandboxHandle


def _environment(sandbox: SandboxHandle, redis_url: str | None, prefix: str) -> dict[str, str]:
    redis = {} if redis_url is None else {"redis_url": redis_url}
    return relay_environment(sandbox, redis_key_prefix=prefix, log_level="WARNING", **redis)


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found |= {int(child) for child in task.read_text().split()}
    return found


def _serving_children(pid: int) -> set[int]:
    """Children of the uvicorn manager that run the app (not multiprocessing helpers)."""
    return {
        child
        for child in _children(pid)
        if "resource_tracker" not in Path(f"/proc/{child}/cmdline").read_bytes().decode()
    }


def test_two_api_processes_share_one_port(
    sandbox: SandboxHandle, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    port = free_port()
    command = starkrelay_command("api", "--port", str(port), "--workers", "2")
    process = subprocess.Popen(
        command, env=_environment(sandbox, redis_url, key_prefix), cwd=tmp_path
    )
    try:
        deadline = time.monotonic() + 60
        ready = False
        while time.monotonic() < deadline and not ready:
            time.sleep(0.1)
            assert process.poll() is None, "starkrelay api --workers 2 exited"
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/health/ready").status_code == 200
            except httpx.HTTPError:
                continue
        assert ready, "not ready in 60 s"
        workers = _serving_children(process.pid)
        assert len(workers) == 2
        # unsigned webhooks are refused by whichever process takes the connection
        for _ in range(20):
            with httpx.Client() as fresh:  # a new connection each time
                answer = fresh.post(
                    f"http://127.0.0.1:{port}/api/v1/webhooks/starkbank", content=b"{}"
                )
                assert answer.status_code == 401
        os.kill(next(iter(workers)), signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(_serving_children(process.pid)) < 2:
            time.sleep(0.1)
        assert len(_serving_children(process.pid)) == 2  # the dead process was replaced
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0


def test_more_than_one_worker_needs_redis_url(
    sandbox: SandboxHandle, key_prefix: str, tmp_path: Path
) -> None:
    done = subprocess.run(
        starkrelay_command("api", "--workers", "2"),
        env=_environment(sandbox, None, key_prefix),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "REDIS_URL" in done.stderr
    assert "--workers" in done.stderr
