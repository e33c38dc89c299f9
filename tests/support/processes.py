"""``starkrelay`` as a child process: its command line and an environment of the test's own
(nothing of the developer's starkrelay settings leaks in), and stopping it as an orchestrator
would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from starksandbox.testing import SandboxHandle

_SETTINGS = ("STARK", "REDIS", "API_", "ADMIN_", "ENVIRONMENT", "WORKER_", "STARTUP_", "CAMPAIGN_")
"""Beginnings of the variables starkrelay reads that a test must not inherit."""


def relay_environment(sandbox: SandboxHandle | None = None, /, **values: object) -> dict[str, str]:
    """This process's environment without any starkrelay setting, plus the project of
    ``sandbox`` when given, then ``values`` (``redis_url=...`` sets ``REDIS_URL``)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(_SETTINGS)}
    if sandbox is not None:
        env |= {
            "STARK_PROJECT_ID": sandbox.project_id,
            "STARK_PRIVATE_KEY": sandbox.private_key,
            "STARK_API_URL": sandbox.url,
        }
    return env | {name.upper(): str(value) for name, value in values.items()}


def starkrelay_command(*args: str) -> list[str]:
    """``starkrelay <args>`` with this test run's Python."""
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
