"""Forward consumer names: stable, one per host and process role, or FORWARD_CONSUMER_NAME."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from ellipticcurve import PrivateKey

from starkrelay.api.wiring import build_worker
from starkrelay.app import open_services
from starkrelay.core.settings import Settings, SettingsError, load_settings
from starkrelay.forwarding.reader import ensure_group
from starkrelay.forwarding.service import consumer_name, consumer_names
from starkrelay.ledger import FORWARD_GROUP, intake

pytestmark = pytest.mark.anyio

PEM = PrivateKey().toPem()
HOST = socket.gethostname()


@pytest.fixture(autouse=True)
def no_consumer_name_from_the_machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FORWARD_CONSUMER_NAME", raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def from_environment(**extra: str) -> Settings:
    return load_settings(stark_project_id="5656565656565656", stark_private_key=PEM, **extra)


def test_default_is_host_and_role_and_the_setting_overrides() -> None:
    settings = from_environment()
    assert consumer_name(settings, "serve") == f"{HOST}-serve"
    assert consumer_name(settings, "worker") == f"{HOST}-worker"
    assert consumer_name(settings, "worker") == consumer_name(from_environment(), "worker")
    named = from_environment(forward_consumer_name="host-a-worker-2")
    assert consumer_name(named, "worker") == "host-a-worker-2"


def test_each_batch_forwarded_at_once_has_a_consumer_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert consumer_names(from_environment(), "serve") == [f"{HOST}-serve", f"{HOST}-serve.2"]
    monkeypatch.setenv("FORWARD_CONCURRENCY", "3")
    named = from_environment(forward_consumer_name="edge-1")
    assert consumer_names(named, "worker") == ["edge-1", "edge-1.2", "edge-1.3"]
    monkeypatch.setenv("FORWARD_CONCURRENCY", "1")
    assert consumer_names(from_environment(), "worker") == [f"{HOST}-worker"]
    for wrong in ("0", "9", "two"):
        monkeypatch.setenv("FORWARD_CONCURRENCY", wrong)
        with pytest.raises(SettingsError, match="FORWARD_CONCURRENCY"):
            from_environment()


def test_setting_is_read_from_the_environment_and_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FORWARD_CONSUMER_NAME", "")
    assert from_environment().forward_consumer_name is None  # empty: the default
    monkeypatch.setenv("FORWARD_CONSUMER_NAME", "edge-1.worker")
    assert from_environment().forward_consumer_name == "edge-1.worker"
    monkeypatch.setenv("FORWARD_CONSUMER_NAME", "two words")
    with pytest.raises(SettingsError, match="FORWARD_CONSUMER_NAME"):
        from_environment()


async def test_serve_and_worker_on_one_host_do_not_share_pending_entries(
    redis_url: str, key_prefix: str
) -> None:
    """An entry the ``serve`` process holds is not re-read by the ``worker`` process as its
    own (with one shared name both would send it on every restart)."""
    settings = from_environment(redis_url=redis_url, redis_key_prefix=key_prefix)

    async with (
        open_services(settings, role="serve") as serve,
        open_services(settings, role="worker") as worker_process,
    ):
        await ensure_group(serve.store)
        code, entry_id = await intake(
            serve.store, event_id=None, event_ttl_seconds=0, action="forward",
            invoice_id="31", now=time.time(),
            stream_fields={"invoice_id": "31", "amount": "950", "gross_amount": "1000",
                           "fee": "50"},
        )  # fmt: skip
        assert code == 1
        serving, working = build_worker(serve), build_worker(worker_process)
        assert (serving.name, working.name) == (f"{HOST}-serve", f"{HOST}-worker")
        [held] = await serving.reader.read_new(block=False)
        assert held.id == entry_id
        pending = await serve.store.redis.xpending_range(
            serve.store.keys.forward_stream(), FORWARD_GROUP, min="-", max="+", count=10
        )
        assert [(p["message_id"], p["consumer"]) for p in pending] == [(entry_id, f"{HOST}-serve")]
        assert await working.reader.own_pending() == []
        [again] = await serving.reader.own_pending()  # the serve process after a restart
        assert (again.id, again.deliveries) == (entry_id, 2)
