"""/metrics as a scraper sees it: bounded time and labels, no _created series, build info,
the request-duration histogram, and an answer (not a 500) when Redis is down or silent."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from tests.support.ports import free_port

from starkrelay import __version__
from starkrelay import app as app_module
from starkrelay.api.scrape import create_metrics_app
from starkrelay.api.shared_state import MAX_LABEL_VALUES, NAMES, SharedStateCollector
from starkrelay.app import create_app, open_services
from starkrelay.core.metrics import REGISTRY
from starkrelay.core.settings import Settings
from starksandbox.testing import SandboxHandle

pytestmark = pytest.mark.anyio


def values(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Samples of ``name`` by their sorted labels."""
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


@pytest.fixture
def silent_redis() -> Iterator[str]:
    """A TCP port that accepts connections and never answers (a hung Redis)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"


def test_exposition_has_build_info_and_no_created_series(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    with TestClient(create_app(relay_settings(), role="api")) as client:
        client.get("/health")
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert values(text, "starkrelay_build_info") == {(("version", __version__),): 1.0}
    assert "_created" not in text
    assert values(text, "starkrelay_shared_state_up") == {(): 1.0}


def test_request_durations_are_labelled_by_route_template_not_raw_path(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    junk = "/api/v1/" + "x" * 3000
    name = "starkrelay_http_request_duration_seconds_count"
    with TestClient(create_app(relay_settings(), role="api")) as client:
        before = values(client.get("/metrics").text, name)
        client.get("/health")
        client.get(junk)
        client.request("BREW", "/health")
        client.post("/api/v1/webhooks/starkbank", content=b"{}")
        text = client.get("/metrics").text
    counts = values(text, name)
    added = {labels: n - before.get(labels, 0) for labels, n in counts.items()}
    assert {labels: n for labels, n in added.items() if n} == {
        (("method", "GET"), ("route", "/health"), ("status", "200")): 1,
        (("method", "GET"), ("route", "unmatched"), ("status", "404")): 1,
        (("method", "other"), ("route", "/health"), ("status", "405")): 1,
        (("method", "POST"), ("route", "/api/v1/webhooks/starkbank"), ("status", "401")): 1,
        (("method", "GET"), ("route", "/metrics"), ("status", "200")): 1,
    }
    assert "x" * 100 not in text


def test_scrape_answers_with_shared_state_down_when_redis_refuses(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    settings = relay_settings(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    with TestClient(create_app(settings, role="api")) as client:
        response = client.get("/metrics")
    assert response.status_code == 200
    assert values(response.text, "starkrelay_shared_state_up") == {(): 0.0}
    assert values(response.text, "starkrelay_ready") == {(): 0.0}
    assert "starkrelay_forward_dead_letters" not in response.text  # no made-up zero


def test_scrape_is_bounded_when_redis_never_answers(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle, silent_redis: str
) -> None:
    settings = relay_settings(redis_url=silent_redis, metrics_scrape_timeout_seconds=0.2)
    with TestClient(create_app(settings, role="api")) as client:
        response = client.get("/metrics")
    assert response.status_code == 200
    assert values(response.text, "starkrelay_shared_state_up") == {(): 0.0}
    assert values(response.text, "starkrelay_ready") == {(): 0.0}
    assert "starkrelay_build_info" in response.text


async def test_stage_labels_from_redis_are_bounded(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle
) -> None:
    settings = relay_settings()

    async def scrape() -> str:
        async with open_services(settings) as services:
            junk = {"waiting": 2, "Bad Stage": 1, "s" * 5000: 1, "\u00e9tape": 1, "nan": "x"}
            junk |= {f"zz_{n:03d}": 1 for n in range(100)}  # sorted after real ones
            await services.store.redis.hset(services.store.keys.ledger_stages(), mapping=junk)
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(create_metrics_app(services.store, settings)),
                base_url="http://metrics",
            ) as client:
                response = await client.get("/metrics")
                assert response.status_code == 200
                return response.text

    stages = values(await scrape(), "starkrelay_forward_invoices")
    names = {labels[0][1] for labels in stages}
    assert len(names) == MAX_LABEL_VALUES
    assert {"queued", "sent", "failed", "dead", "skipped", "success"} <= names
    assert stages[(("stage", "waiting"),)] == 2.0  # a stage the ledger adds shows up
    assert not names & {"Bad Stage", "s" * 5000, "\u00e9tape", "nan"}


def test_collector_names_never_clash_with_the_process_registry() -> None:
    process = {family.name for family in REGISTRY.collect()}
    assert not process & set(NAMES)
    described = {family.name for family in SharedStateCollector(None).describe()}
    assert described == set(NAMES)
    assert [family.name for family in SharedStateCollector(None).collect()] == [
        "starkrelay_shared_state_up"
    ]


def test_a_worker_serves_the_shared_state_on_its_own_metrics_app(
    relay_settings: Callable[..., Settings], sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = relay_settings()

    async def dead_letter() -> None:
        async with open_services(settings, role="worker") as services:
            await services.store.redis.xadd(
                services.store.keys.forward_dead_letters(), {"reason": "test"}
            )

    asyncio.run(dead_letter())
    monkeypatch.setattr(app_module, "BACKGROUND", [])  # the worker's app, without its parts
    with TestClient(create_app(settings, role="worker", credentials_verified=True)) as client:
        response = client.get("/metrics")
        assert response.status_code == 200
    text = response.text
    assert values(text, "starkrelay_ready") == {(): 1.0}  # a worker needs no webhook key
    assert values(text, "starkrelay_forward_dead_letters") == {(): 1.0}
