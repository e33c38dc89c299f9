"""Supervised background parts, in-process against real Redis servers and the emulator: Redis
down at start then up, a part that dies, a part that stops beating, credentials retried, the
worker's app on its own port."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

import anyio
import httpx
import pytest
import starkbank
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.support.ports import free_port
from tests.support.redis_server import own_redis

from starkrelay import app as app_module
from starkrelay.api.deps import Services
from starkrelay.app import BACKGROUND, create_app
from starkrelay.core.settings import WEBHOOK_PATH, Settings
from starkrelay.core.supervision import Fatal, Heartbeat
from starksandbox.testing import SandboxHandle

pytestmark = pytest.mark.anyio

FAST_STARTUP = {"startup_retry_max_wait_seconds": 0.05, "forward_block_ms": 50}


def _wait_for(predicate: Callable[[], bool], seconds: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


@contextmanager
def _serving(app: FastAPI, host: str, port: int) -> Iterator[str]:
    """``app`` served by uvicorn on ``host:port`` (as the CLI serves it), in a thread."""
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        _wait_for(lambda: server.started, 15, "uvicorn")
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def test_redis_down_at_start_then_up_forwards_a_credited_invoice(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    with own_redis(started=False) as redis_server:
        port = free_port()
        settings = relay_settings(
            redis_url=redis_server.url(),
            api_external_url=f"http://127.0.0.1:{port}",
            campaign_batch_min=1,
            campaign_batch_max=1,
            **FAST_STARTUP,
        )
        app = create_app(settings, role="serve")
        with _serving(app, "127.0.0.1", port) as base:
            assert httpx.get(f"{base}/health").status_code == 200  # alive, only waiting
            waiting = httpx.get(f"{base}/health/ready")
            assert waiting.status_code == 503
            assert {"redis", "forwarding_worker", "campaign_scheduler"} <= set(
                waiting.json()["missing"]
            )
            refused = httpx.post(f"{base}{WEBHOOK_PATH}", content=b'{"event": {}}')
            assert refused.status_code == 503
            assert refused.json()["outcome"] == "unavailable"

            redis_server.start()
            _wait_for(lambda: httpx.get(f"{base}/health/ready").status_code == 200, 30, "readiness")
            invoice = starkbank.invoice.create(
                [starkbank.Invoice(amount=12345, tax_id="012.345.678-90", name="Ana Lima")]
            )[0]

            def forwarded() -> list[starkbank.Transfer]:
                return list(starkbank.transfer.query(tags=[f"invoice:{invoice.id}"]))

            _wait_for(lambda: bool(forwarded()), 30, "the forward transfer")
            credited = starkbank.invoice.get(invoice.id)
            assert [t.amount for t in forwarded()] == [credited.amount - credited.fee]
            assert app.state.supervisor.fatal is None


def test_a_part_that_dies_stops_the_process_and_fails_liveness(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    @asynccontextmanager
    async def doomed_part(services: Services, heartbeat: Heartbeat) -> AsyncIterator[None]:
        async def crash() -> None:
            await anyio.sleep(0.05)
            raise RuntimeError("the part's task crashed")

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(crash)
            yield

    monkeypatch.setattr(app_module, "BACKGROUND", [*BACKGROUND, doomed_part])
    fatal: list[Fatal] = []
    app = create_app(relay_settings(**FAST_STARTUP), role="serve", on_fatal=fatal.append)
    with TestClient(app) as client:
        _wait_for(lambda: bool(fatal), 15, "the fatal error")
        crash = "RuntimeError: the part's task crashed"
        assert fatal == [Fatal(1, f"background part doomed_part stopped: {crash}")]
        health = client.get("/health")
        assert health.status_code == 503
        assert health.json()["parts"] == {"doomed_part": f"failed: {crash}"}
        assert "doomed_part" in client.get("/health/ready").json()["missing"]
        assert client.post(WEBHOOK_PATH, content=b"{}").status_code == 503


def test_a_part_that_stops_beating_fails_liveness(
    relay_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    hang = anyio.Event()

    @asynccontextmanager
    async def stuck_loop(services: Services, heartbeat: Heartbeat) -> AsyncIterator[None]:
        async def loop() -> None:
            for _ in range(3):
                heartbeat.beat()
                await anyio.sleep(0.01)
            await hang.wait()  # stuck: no more beats

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(loop)
            yield
            hang.set()

    monkeypatch.setattr(app_module, "BACKGROUND", [stuck_loop])
    app = create_app(relay_settings(heartbeat_timeout_seconds=0.2), role="worker")
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
        _wait_for(lambda: client.get("/health").status_code == 503, 10, "liveness to fail")
        health = client.get("/health")
        assert health.json()["parts"]["stuck_loop"].startswith("no heartbeat for")
        assert app.state.supervisor.fatal is None  # liveness reports it; the orchestrator acts


def test_transient_stark_bank_failures_at_start_are_retried(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    sandbox.set_faults(api_error_rate=1.0)
    settings = relay_settings(bank_retry_deadline_seconds=0.05, **FAST_STARTUP)
    with TestClient(create_app(settings, role="api")) as client:
        _wait_for(
            lambda: "stark_credentials" in client.get("/health/ready").json().get("missing", []),
            10,
            "stark_credentials to be named",
        )
        sandbox.set_faults(api_error_rate=0.0)
        _wait_for(lambda: client.get("/health/ready").status_code == 200, 30, "readiness")
        assert client.app.state.supervisor.fatal is None  # type: ignore[attr-defined]


def test_worker_serves_health_and_metrics_on_its_own_port(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    settings = relay_settings(worker_metrics_port=free_port(), **FAST_STARTUP)
    app = create_app(settings, role="worker")
    with _serving(app, settings.worker_metrics_host, settings.worker_metrics_port) as base:
        _wait_for(lambda: httpx.get(f"{base}/health/ready").status_code == 200, 30, "readiness")
        assert httpx.get(f"{base}/health/ready").json() == {"status": "ready"}
        assert httpx.get(f"{base}/health").json() == {"status": "ok"}
        assert "starkrelay_redis_up 1.0" in httpx.get(f"{base}/metrics").text
        assert httpx.get(f"{base}/docs").status_code == 404
        probe = [sys.executable, "-m", "starkrelay.probe"]
        for args in ([f"{base}/health"], ["--ready", f"{base}/health/ready"]):
            assert subprocess.run([*probe, *args], check=False).returncode == 0
        closed = f"http://127.0.0.1:{free_port()}/health"
        assert subprocess.run([*probe, closed], check=False).returncode == 1


def test_credentials_refused_after_start_stop_the_process_with_status_2(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    fatal: list[Fatal] = []
    settings = relay_settings(stark_project_id="1234567890", **FAST_STARTUP)
    with TestClient(create_app(settings, role="api", on_fatal=fatal.append)) as client:
        _wait_for(lambda: bool(fatal), 15, "the refusal")
        [refused] = fatal
        assert refused.exit_code == 2
        assert refused.message.startswith("Stark Bank refused the credentials (invalidAccessId)")
        assert "STARK_PROJECT_ID" in refused.message
        assert client.get("/health").status_code == 503
        assert client.post(WEBHOOK_PATH, content=b"{}").status_code == 503
