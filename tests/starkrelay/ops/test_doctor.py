"""The doctor's checks against the emulator and real Redis servers: a healthy setup passes,
and each broken part is named (every wrong setting at once, wrong credentials, a wrong key
file, an evicting Redis, no persistence, no webhook, an http URL, Redis or Stark Bank
unreachable, a URL that does not answer, a workspace id missing or other than the one Stark
Bank reports, which it shows). The command itself: test_doctor_command.py."""

from __future__ import annotations

import json
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from doctor_harness import (
    DESTINATION,
    doctor,
    doctor_values,
    doctor_with,
    register_webhook,
    result,
    statuses,
    workspace_of_an_event,
)
from tests.support.ports import free_port

from starkrelay.app import create_app
from starkrelay.cli.doctor_run import Status
from starkrelay.core.settings import Settings
from starksandbox.keys import new_key_pair
from starksandbox.testing import SandboxHandle


def test_a_healthy_setup_passes(sandbox: SandboxHandle, healthy_redis: str) -> None:
    register_webhook()
    workspace = workspace_of_an_event()
    report = doctor(
        sandbox, healthy_redis, stark_workspace_id=workspace, forward_daily_limit=5_000_000
    )
    assert report.ok, report.as_dict()
    assert statuses(report) == {
        "settings": Status.PASSED,
        "settings.forward_limits": Status.PASSED,
        "redis.reachable": Status.PASSED,
        "redis.version": Status.PASSED,
        "redis.eviction": Status.PASSED,
        "redis.persistence": Status.PASSED,
        "stark.credentials": Status.PASSED,
        "stark.balance": Status.PASSED,
        "stark.workspace": Status.PASSED,
        "stark.webhook": Status.PASSED,
        "url.https": Status.PASSED,
        "url.reachable": Status.SKIPPED,
    }
    assert "AOF on" in result(report, "redis.persistence")
    assert report.destination is not None
    assert report.destination.describe() == DESTINATION
    assert report.as_dict()["destination"]["account_number"] == "6341320293482496"


def test_wrong_project_id_and_wrong_key_are_named(
    sandbox: SandboxHandle, healthy_redis: str
) -> None:
    register_webhook()
    wrong_id = doctor(sandbox, healthy_redis, stark_project_id="1234567890")
    assert not wrong_id.ok
    assert [r.name for r in wrong_id.failed] == ["stark.credentials"]
    assert "STARK_PROJECT_ID" in result(wrong_id, "stark.credentials")
    assert "invalidAccessId" in result(wrong_id, "stark.credentials")

    other_key, _ = new_key_pair()
    wrong_key = doctor(sandbox, healthy_redis, stark_private_key=other_key)
    assert [r.name for r in wrong_key.failed] == ["stark.credentials"]
    assert "STARK_PRIVATE_KEY" in result(wrong_key, "stark.credentials")
    assert other_key.splitlines()[1] not in json.dumps(wrong_key.as_dict())


def test_redis_with_an_eviction_policy_fails(
    sandbox: SandboxHandle, own_redis_url: Callable[..., str]
) -> None:
    register_webhook()
    url = own_redis_url("--appendonly", "yes", "--maxmemory-policy", "allkeys-lru")
    report = doctor(sandbox, url)
    assert [r.name for r in report.failed] == ["redis.eviction"]
    assert "allkeys-lru; expected noeviction" in result(report, "redis.eviction")


def test_redis_without_persistence_fails(
    sandbox: SandboxHandle, own_redis_url: Callable[..., str]
) -> None:
    register_webhook()
    report = doctor(sandbox, own_redis_url())  # --save "" --appendonly no
    assert [r.name for r in report.failed] == ["redis.persistence"]
    snapshots = doctor(sandbox, own_redis_url("--save", "900 1"))
    assert snapshots.ok, snapshots.as_dict()
    assert "RDB save points: 900 1" in result(snapshots, "redis.persistence")


def test_redis_unreachable_fails_and_the_rest_is_still_checked(sandbox: SandboxHandle) -> None:
    register_webhook()
    report = doctor(sandbox, f"redis://:hunter2-secret@127.0.0.1:{free_port()}/0")
    assert [r.name for r in report.failed] == ["redis.reachable"]
    assert "hunter2" not in json.dumps(report.as_dict())
    assert statuses(report)["stark.webhook"] is Status.PASSED


def test_no_redis_url_fails_rather_than_a_throwaway_valkey(sandbox: SandboxHandle) -> None:
    register_webhook()
    report = doctor(sandbox, None, environment="development")  # type: ignore[arg-type]
    assert [r.name for r in report.failed] == ["redis.reachable"]
    assert "REDIS_URL unset" in result(report, "redis.reachable")


def test_no_webhook_or_an_incomplete_one_fails(sandbox: SandboxHandle, healthy_redis: str) -> None:
    register_webhook(url="https://somewhere-else.example.test")
    report = doctor(sandbox, healthy_redis)
    assert [r.name for r in report.failed] == ["stark.webhook"]
    assert "no webhook registered for" in result(report, "stark.webhook")
    assert "webhook ensure" in result(report, "stark.webhook")

    register_webhook(subscriptions=("invoice",))
    incomplete = doctor(sandbox, healthy_redis)
    assert "lacks subscription(s) transfer" in result(incomplete, "stark.webhook")


def test_an_http_url_fails(sandbox: SandboxHandle, healthy_redis: str) -> None:
    register_webhook(url="http://relay.example.test")
    report = doctor(sandbox, healthy_redis, api_external_url="http://relay.example.test",
                    environment="development")  # fmt: skip
    assert [r.name for r in report.failed] == ["url.https"]
    assert statuses(report)["settings.ENVIRONMENT"] is Status.WARNED


def test_workspace_mismatch_fails(sandbox: SandboxHandle, healthy_redis: str) -> None:
    register_webhook()
    workspace = workspace_of_an_event()
    report = doctor(sandbox, healthy_redis, stark_workspace_id=str(int(workspace) + 1))
    assert [r.name for r in report.failed] == ["stark.workspace"]
    assert f"set STARK_WORKSPACE_ID={workspace}" in result(report, "stark.workspace")
    assert report.workspace_id == workspace


def test_a_missing_workspace_id_fails_in_production_and_shows_the_one_to_set(
    sandbox: SandboxHandle, healthy_redis: str
) -> None:
    register_webhook()
    workspace = workspace_of_an_event()
    report = doctor(sandbox, healthy_redis, stark_workspace_id=None)
    assert [r.name for r in report.failed] == ["settings.STARK_WORKSPACE_ID", "stark.workspace"]
    assert "web banking shows it" in result(report, "settings.STARK_WORKSPACE_ID")
    assert result(report, "stark.workspace") == (
        f"fail: Stark Bank reports workspace {workspace} for these credentials; "
        "STARK_WORKSPACE_ID unset: production refuses to start without it / "
        f"set STARK_WORKSPACE_ID={workspace}"
    )
    assert (report.workspace_id, report.as_dict()["workspace_id"]) == (workspace, workspace)
    seen = statuses(report)  # everything else is still checked
    assert seen["redis.eviction"] is seen["stark.webhook"] is seen["url.https"] is Status.PASSED


def test_a_missing_workspace_id_with_no_event_yet_points_at_the_web_banking(
    sandbox: SandboxHandle, healthy_redis: str
) -> None:
    register_webhook()
    report = doctor(sandbox, healthy_redis, stark_workspace_id=None)
    assert [r.name for r in report.failed] == ["settings.STARK_WORKSPACE_ID", "stark.workspace"]
    assert "web banking shows the workspace id" in result(report, "stark.workspace")
    assert report.workspace_id is None


def test_development_without_a_workspace_id_warns_with_the_one_to_set(
    sandbox: SandboxHandle, healthy_redis: str
) -> None:
    register_webhook()
    workspace = workspace_of_an_event()
    report = doctor(sandbox, healthy_redis, stark_workspace_id=None, environment="development")
    assert report.ok, report.as_dict()
    assert result(report, "stark.workspace").startswith(
        f"warn: Stark Bank reports workspace {workspace} for these credentials; "
        "STARK_WORKSPACE_ID unset: learned at run time"
    )
    assert report.workspace_id == workspace


def test_every_wrong_or_missing_setting_is_named_in_one_run() -> None:
    values = {
        "environment": "production",
        "admin_token": "short",  # wrong on its own
        "stark_project_id": "not-digits",  # wrong on its own
        "campaign_batch_min": 20,  # above CAMPAIGN_BATCH_MAX: wrong with another
    }  # and missing: REDIS_URL, API_EXTERNAL_URL, STARK_WORKSPACE_ID, the private key
    report = doctor_with(values)
    assert [r.name for r in report.failed] == [
        "settings.ADMIN_TOKEN",
        "settings.STARK_PROJECT_ID",
        "settings.CAMPAIGN_BATCH_MIN",
        "settings.API_EXTERNAL_URL",
        "settings.REDIS_URL",
        "settings.STARK_WORKSPACE_ID",
        "settings.STARK_PRIVATE_KEY",
    ]
    assert "short" not in json.dumps(report.as_dict())
    assert statuses(report)["redis"] is statuses(report)["stark"] is Status.SKIPPED
    assert report.destination is None


def test_a_wrong_key_file_is_named_as_the_file(
    sandbox: SandboxHandle, healthy_redis: str, tmp_path: Path
) -> None:
    register_webhook()
    other_key = tmp_path / "other-key.pem"
    other_key.write_text(new_key_pair()[0])
    report = doctor(
        sandbox, healthy_redis, stark_private_key=None, stark_private_key_file=str(other_key)
    )
    assert [r.name for r in report.failed] == ["stark.credentials"]
    found = result(report, "stark.credentials")
    assert f"the key in STARK_PRIVATE_KEY_FILE ({other_key}) does not match" in found
    assert "give STARK_PRIVATE_KEY_FILE the private key" in found
    assert re.search(r"STARK_PRIVATE_KEY(?!_FILE)", found) is None

    other_key.write_text("not a key")
    unreadable = doctor(
        sandbox, healthy_redis, stark_private_key=None, stark_private_key_file=str(other_key)
    )
    assert [r.name for r in unreadable.failed] == ["settings.STARK_PRIVATE_KEY_FILE"]


def test_redis_and_stark_bank_unreachable_are_one_clean_line(sandbox: SandboxHandle) -> None:
    redis_port, bank_port = free_port(), free_port()
    report = doctor(
        sandbox,
        f"redis://127.0.0.1:{redis_port}/0",
        stark_api_url=f"http://127.0.0.1:{bank_port}",
        bank_retry_deadline_seconds=0,  # one attempt: the preflight's retries are not tested here
    )
    assert [r.name for r in report.failed] == ["redis.reachable", "stark.credentials"]
    assert result(report, "redis.reachable") == (
        f"fail: redis://127.0.0.1:{redis_port}: could not connect (Connection refused) / "
        "check REDIS_URL, REDIS_PASSWORD and that Redis is running"
    )
    assert result(report, "stark.credentials") == (
        f"fail: http://127.0.0.1:{bank_port}: could not connect / check the network to Stark "
        "Bank (and STARK_API_URL if set), then run doctor again"
    )
    assert statuses(report)["url.https"] is Status.PASSED  # the rest is still checked


# --- --check-url: the service over https on 127.0.0.1 ------------------------------------------
def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1)).not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]),
                       critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption())
    )  # fmt: skip
    return cert_path, key_path


@pytest.fixture
def https_relay(
    sandbox: SandboxHandle, healthy_redis: str, tmp_path: Path
) -> Iterator[tuple[str, Path]]:
    """The relay's API over https on 127.0.0.1 (self-signed); yields its URL and the CA."""
    cert, key = self_signed(tmp_path)
    port = free_port()
    settings = Settings(**doctor_values(sandbox, healthy_redis), _env_file=None)  # type: ignore[call-arg]
    config = uvicorn.Config(
        create_app(settings, role="api"), host="127.0.0.1", port=port, log_level="warning",
        ssl_certfile=str(cert), ssl_keyfile=str(key), lifespan="on",
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "relay did not start"
        assert time.monotonic() < deadline, "relay did not start in time"
        time.sleep(0.01)
    try:
        yield f"https://127.0.0.1:{port}", cert
    finally:
        server.should_exit = True
        thread.join(10)


def test_check_url_gets_the_health_path_from_outside(
    sandbox: SandboxHandle, healthy_redis: str, https_relay: tuple[str, Path]
) -> None:
    url, ca = https_relay
    register_webhook(url=url)
    trusted = ssl.create_default_context(cafile=str(ca))
    report = doctor(sandbox, healthy_redis, api_external_url=url, check_url=True, verify=trusted)
    assert report.ok, report.as_dict()
    assert result(report, "url.reachable").startswith(f"pass: GET {url}/health answered 200")

    untrusted = doctor(sandbox, healthy_redis, api_external_url=url, check_url=True)
    assert [r.name for r in untrusted.failed] == ["url.reachable"]  # certificate not trusted

    nobody = f"https://127.0.0.1:{free_port()}"
    register_webhook(url=nobody)
    down = doctor(sandbox, healthy_redis, api_external_url=nobody, check_url=True)
    assert [r.name for r in down.failed] == ["url.reachable"]
    assert "ConnectError" in result(down, "url.reachable")


def test_production_without_an_outflow_limit_is_a_warning(
    sandbox: SandboxHandle, healthy_redis: str
) -> None:
    register_webhook()
    report = doctor(sandbox, healthy_redis, stark_workspace_id=workspace_of_an_event())
    assert report.ok
    assert result(report, "settings.forward_limits") == (
        "warn: no outflow limit set: any amount may leave without a person seeing it / set "
        "FORWARD_MAX_AMOUNT and FORWARD_DAILY_LIMIT (cents); forwards past them are held for "
        "approval"
    )
