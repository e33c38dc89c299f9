"""``starkrelay serve`` / ``worker`` / ``api`` as real processes: what will never work stops
them with one line and a non-zero status; what may heal (Redis) is retried, one line each."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.ports import free_port
from tests.support.processes import relay_environment, starkrelay_command, stop_process
from tests.support.redis_server import own_redis

from starkrelay.app import BACKGROUND
from starksandbox.keys import new_key_pair
from starksandbox.testing import SandboxHandle


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def _environment(sandbox: SandboxHandle, **values: Any) -> dict[str, str]:
    settings: dict[str, Any] = {
        "log_format": "json",
        "bank_retry_max_wait_seconds": 0.05,
        "startup_retry_max_wait_seconds": 0.05,
    }
    return relay_environment(sandbox, **(settings | values))


def _run(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def _records(text: str) -> list[dict[str, Any]]:
    records = []
    for line in _lines(text):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            records.append({"event": "<not json>", "text": line})
    return records


def _problem_lines(stderr: str) -> list[str]:
    """Every stderr line except the info-level notices a start prints (the emulator redirect)."""
    return [line for line in _lines(stderr) if '"level":"info"' not in line]


@pytest.mark.parametrize("command", ["serve", "api", "worker"])
def test_unknown_project_exits_2_with_one_line_naming_the_variables(
    sandbox: SandboxHandle, redis_url: str, key_prefix: str, tmp_path: Path, command: str
) -> None:
    env = _environment(
        sandbox, stark_project_id="1234567890", redis_url=redis_url, redis_key_prefix=key_prefix
    )
    result = _run(
        starkrelay_command(command, *(["--port", str(free_port())] if command != "worker" else [])),
        env,
        tmp_path,
    )
    assert result.returncode == 2, result.stderr
    [line] = _problem_lines(result.stderr)
    assert line.startswith("starkrelay: Stark Bank refused the credentials (invalidAccessId)")
    assert "STARK_PROJECT_ID" in line
    assert "STARK_PRIVATE_KEY" in line
    assert "Traceback" not in result.stderr


def test_a_key_the_project_does_not_know_exits_2_without_showing_it(
    sandbox: SandboxHandle, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    other_key, _ = new_key_pair()
    env = _environment(
        sandbox, stark_private_key=other_key, redis_url=redis_url, redis_key_prefix=key_prefix
    )
    result = _run(starkrelay_command("serve", "--port", str(free_port())), env, tmp_path)
    assert result.returncode == 2, result.stderr
    [line] = _problem_lines(result.stderr)
    assert "(invalidCredentials)" in line
    assert "STARK_PRIVATE_KEY" in line
    body = "".join(other_key.strip().splitlines()[1:-1])
    assert body[:40] not in result.stderr
    assert body[:40] not in result.stdout


def test_serve_exits_non_zero_when_a_background_part_gives_up(
    sandbox: SandboxHandle, key_prefix: str, tmp_path: Path
) -> None:
    port = free_port()
    env = _environment(
        sandbox,
        redis_url=f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
        redis_key_prefix=key_prefix,
        startup_retry_deadline_seconds=0.5,
        api_external_url=f"http://127.0.0.1:{port}",
    )
    result = _run(starkrelay_command("serve", "--port", str(port)), env, tmp_path)
    assert result.returncode == 1, result.stderr[-3000:]
    records = _records(result.stderr)
    died = [r for r in records if r.get("event") == "app.part.died"]
    assert died, result.stderr[-3000:]
    assert {r["part"] for r in died} <= {part.__name__ for part in BACKGROUND}
    [fatal] = [r for r in records if r.get("event") == "app.fatal"]
    assert fatal["exit_code"] == 1
    assert "background part" in fatal["reason"]
    assert "Traceback" not in result.stderr


def test_worker_with_a_wrong_redis_password_is_not_ready_and_says_why_once_per_retry(
    sandbox: SandboxHandle, key_prefix: str, tmp_path: Path
) -> None:
    listener = free_port()
    stderr_path = tmp_path / "stderr.log"
    with own_redis(password="the-right-password") as server:
        env = _environment(
            sandbox,
            redis_url=server.url("a-wrong-password"),
            redis_key_prefix=key_prefix,
            worker_metrics_port=listener,
            startup_retry_max_wait_seconds=0.1,
            api_external_url="http://127.0.0.1:9",
        )
        with stderr_path.open("wb") as stderr:
            process = subprocess.Popen(
                starkrelay_command("worker"), env=env, cwd=tmp_path, stderr=stderr
            )
        try:
            deadline = time.monotonic() + 30
            ready = None
            while time.monotonic() < deadline:
                assert process.poll() is None, read(stderr_path)[-3000:]
                try:
                    ready = httpx.get(f"http://127.0.0.1:{listener}/health/ready")
                except httpx.TransportError:
                    time.sleep(0.05)
                    continue
                retries = [
                    r
                    for r in _records(read(stderr_path))
                    if r.get("event") == "forwarding_worker.start.retrying"
                ]
                if len(retries) >= 3:
                    break
                time.sleep(0.05)
            assert ready is not None
            assert ready.status_code == 503
            assert "redis" in ready.json()["missing"]
            assert "forwarding_worker" in ready.json()["missing"]
            assert httpx.get(f"http://127.0.0.1:{listener}/health").status_code == 200
            probe = [sys.executable, "-m", "starkrelay.probe", f"http://127.0.0.1:{listener}"]
            assert subprocess.run([*probe[:-1], f"{probe[-1]}/health"], check=False).returncode == 0
            ready_probe = [*probe[:-1], "--ready", f"{probe[-1]}/health/ready"]
            assert subprocess.run(ready_probe, check=False).returncode == 1
        finally:
            status = stop_process(process)
    assert status == 0, read(stderr_path)[-3000:]
    records = _records(read(stderr_path))
    assert "Traceback" not in read(stderr_path)
    by_part: dict[str, list[int]] = {}
    for record in records:
        if str(record.get("event", "")).endswith(".start.retrying"):
            assert record["level"] == "warning"
            assert "AuthenticationError" in record["error"], record
            assert "REDIS_PASSWORD" in record["hint"], record
            by_part.setdefault(record["event"], []).append(record["attempt"])
    assert len(by_part["forwarding_worker.start.retrying"]) >= 3
    for attempts in by_part.values():  # one line per attempt, none repeated
        assert attempts == list(range(1, len(attempts) + 1))
    noisy = [
        r
        for r in records
        if r.get("level") in ("warning", "error") and not str(r["event"]).endswith(".retrying")
    ]
    assert noisy == []
