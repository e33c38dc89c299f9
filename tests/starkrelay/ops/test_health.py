"""Health, readiness and metrics over HTTP, against real Redis and the emulator."""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi.testclient import TestClient
from tests.support.ports import free_port

from starkrelay.app import create_app
from starkrelay.core.settings import Settings
from starksandbox.testing import SandboxHandle


def _ready_within(client: TestClient, seconds: float = 10.0) -> dict[str, object]:
    deadline = time.monotonic() + seconds
    while True:
        response = client.get("/health/ready")
        if response.status_code == 200 or time.monotonic() > deadline:
            body: dict[str, object] = response.json()
            return body
        time.sleep(0.01)


def test_ready_once_redis_answers_and_the_public_key_is_loaded(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    with TestClient(create_app(relay_settings(), role="api")) as client:
        assert client.get("/health").json() == {"status": "ok"}
        assert _ready_within(client) == {"status": "ready"}
        text = client.get("/metrics").text
        assert "starkrelay_redis_up 1.0" in text
        assert "starkrelay_stark_public_key_loaded 1.0" in text
        for name in ("invoices_issued_total", "campaign_slots_total", "bank_calls_total"):
            assert f"# TYPE starkrelay_{name} counter" in text


def test_not_ready_names_redis_when_it_is_down(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    settings = relay_settings(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    with TestClient(create_app(settings, role="api")) as client:
        assert client.get("/health").status_code == 200
        deadline = time.monotonic() + 10
        while True:
            response = client.get("/health/ready")
            if response.json()["missing"] == ["redis"] or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        assert response.status_code == 503
        assert response.json() == {"status": "unavailable", "missing": ["redis"]}
        assert "starkrelay_redis_up 0.0" in client.get("/metrics").text


def test_not_ready_names_credentials_and_public_key_while_stark_bank_fails(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    sandbox.set_faults(api_error_rate=1.0)
    settings = relay_settings(bank_retry_deadline_seconds=0.05)
    with TestClient(create_app(settings, role="api")) as client:
        response = client.get("/health/ready")
        assert response.status_code == 503
        assert response.json()["missing"] == ["stark_credentials", "stark_public_key"]
