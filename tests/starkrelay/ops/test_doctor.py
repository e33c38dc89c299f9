"""``starkrelay doctor`` against the emulator and real Redis servers: a healthy setup passes,
and each broken part is named (wrong credentials, an evicting Redis, no persistence, no
webhook, an http URL, Redis unreachable, wrong settings, a URL that does not answer, a
workspace id missing or other than the one Stark Bank reports, which it shows)."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
import redis
import starkbank
import structlog
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from relay_harness import workspace_of
from typer.testing import CliRunner

from starkrelay.app import create_app
from starkrelay.cli import app as cli
from starkrelay.core.settings import Settings, load_settings
from starkrelay.ops.doctor import DoctorReport, Status, run_doctor
from starksandbox.keys import new_key_pair
from starksandbox.testing import SandboxHandle

runner = CliRunner()
PUBLIC_URL = "https://relay.example.test"
ADMIN_TOKEN = "doctor-admin-token-8d1f3c"
SUBSCRIPTIONS = ("invoice", "transfer")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_redis(directory: Path, *args: str) -> tuple[subprocess.Popen[bytes], str]:
    """Our own redis-server (the shared one must not be reconfigured), answering PING."""
    port = _free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
         "--save", "", "--appendonly", "no", *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            if redis.Redis.from_url(url, socket_connect_timeout=0.2).ping():
                return process, url
        except redis.RedisError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("redis-server did not start") from None
            time.sleep(0.02)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """``own_redis(*args)`` -> URL of a fresh redis-server with those extra arguments."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> str:
        directory = tmp_path / f"redis-{len(started)}"
        directory.mkdir()
        process, url = start_redis(directory, *args)
        started.append(process)
        return url

    try:
        yield start
    finally:
        for process in started:
            process.terminate()
            process.wait(10)


@pytest.fixture
def healthy_redis(own_redis: Callable[..., str]) -> str:
    return own_redis("--appendonly", "yes", "--maxmemory-policy", "noeviction")


def doctor_values(sandbox: SandboxHandle, redis_url: str, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "environment": "production",
        "stark_workspace_id": workspace_of(sandbox),
        "stark_project_id": sandbox.project_id,
        "stark_private_key": sandbox.private_key,
        "stark_api_url": sandbox.url,
        "redis_url": redis_url,
        "api_external_url": PUBLIC_URL,
        "admin_token": ADMIN_TOKEN,
        "bank_retry_deadline_seconds": 0.3,
        "bank_retry_max_wait_seconds": 0.02,
        "bank_timeout_seconds": 5,
        "log_format": "console",
    }
    return values | overrides


def doctor(sandbox: SandboxHandle, redis_url: str, **overrides: Any) -> DoctorReport:
    values = doctor_values(sandbox, redis_url, **overrides)
    check_url = bool(values.pop("check_url", False))
    verify = values.pop("verify", True)
    return asyncio.run(
        run_doctor(
            check_url=check_url,
            load=lambda **extra: load_settings(_env_file=None, **(values | extra)),
            verify=verify,
        )
    )


def statuses(report: DoctorReport) -> dict[str, Status]:
    return {result.name: result.status for result in report.results}


def result(report: DoctorReport, name: str) -> str:
    [found] = [r for r in report.results if r.name == name]
    return f"{found.status}: {found.detail} / {found.fix}"


def register_webhook(url: str = PUBLIC_URL, subscriptions: tuple[str, ...] = SUBSCRIPTIONS) -> None:
    hook = url + "/api/v1/webhooks/starkbank"
    starkbank.webhook.create(url=hook, subscriptions=list(subscriptions))


def workspace_of_an_event() -> str:
    starkbank.invoice.create([starkbank.Invoice(amount=1_000, name="Ana", tax_id="012.345.678-90")])
    [event] = list(starkbank.event.query(limit=1))
    return str(event.workspace_id)


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
    sandbox: SandboxHandle, own_redis: Callable[..., str]
) -> None:
    register_webhook()
    url = own_redis("--appendonly", "yes", "--maxmemory-policy", "allkeys-lru")
    report = doctor(sandbox, url)
    assert [r.name for r in report.failed] == ["redis.eviction"]
    assert "allkeys-lru; expected noeviction" in result(report, "redis.eviction")


def test_redis_without_persistence_fails(
    sandbox: SandboxHandle, own_redis: Callable[..., str]
) -> None:
    register_webhook()
    report = doctor(sandbox, own_redis())  # --save "" --appendonly no
    assert [r.name for r in report.failed] == ["redis.persistence"]
    snapshots = doctor(sandbox, own_redis("--save", "900 1"))
    assert snapshots.ok, snapshots.as_dict()
    assert "RDB save points: 900 1" in result(snapshots, "redis.persistence")


def test_redis_unreachable_fails_and_the_rest_is_still_checked(sandbox: SandboxHandle) -> None:
    register_webhook()
    report = doctor(sandbox, f"redis://:hunter2-secret@127.0.0.1:{_free_port()}/0")
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
    port = _free_port()
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

    nobody = f"https://127.0.0.1:{_free_port()}"
    register_webhook(url=nobody)
    down = doctor(sandbox, healthy_redis, api_external_url=nobody, check_url=True)
    assert [r.name for r in down.failed] == ["url.reachable"]
    assert "ConnectError" in result(down, "url.reachable")


# --- the command ------------------------------------------------------------------------------
@pytest.fixture
def doctor_env(
    monkeypatch: pytest.MonkeyPatch, sandbox: SandboxHandle, tmp_path: Path
) -> Iterator[Callable[[str], None]]:
    """Environment for the command. Afterwards the logging the command configured is undone:
    it caches loggers on first use, which would hide later tests' logs from capture_logs."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("COLUMNS", "200")
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level

    def apply(redis_url: str, **extra: str | None) -> None:
        values = doctor_values(sandbox, redis_url) | extra
        for name, value in values.items():
            if value is None:
                monkeypatch.delenv(name.upper(), raising=False)
            else:
                monkeypatch.setenv(name.upper(), str(value))

    try:
        yield apply
    finally:
        structlog.reset_defaults()
        root.handlers[:], root.level = handlers, level


def test_command_prints_a_checklist_and_exits_0_when_healthy(
    doctor_env: Callable[..., None], healthy_redis: str
) -> None:
    register_webhook()
    doctor_env(healthy_redis)
    answer = runner.invoke(cli, ["doctor"])
    assert answer.exit_code == 0, answer.output
    assert "redis.eviction" in answer.output
    assert "Ready to go live" in answer.output


def test_command_prints_the_workspace_id_stark_bank_reports(
    doctor_env: Callable[..., None], healthy_redis: str
) -> None:
    register_webhook()
    workspace = workspace_of_an_event()
    doctor_env(healthy_redis, stark_workspace_id=None)
    answer = runner.invoke(cli, ["doctor"])
    assert answer.exit_code == 1
    assert (
        f"The workspace Stark Bank reports for these credentials: STARK_WORKSPACE_ID={workspace}"
        in answer.output
    )
    assert "failed: settings.STARK_WORKSPACE_ID, stark.workspace." in answer.output
    as_json = json.loads(runner.invoke(cli, ["doctor", "--json"]).stdout)
    assert as_json["workspace_id"] == workspace


def test_command_json_names_each_wrong_setting_and_exits_1(
    doctor_env: Callable[..., None], healthy_redis: str
) -> None:
    doctor_env(healthy_redis, stark_project_id="not-digits", admin_token="short")
    answer = runner.invoke(cli, ["doctor", "--json"])
    assert answer.exit_code == 1
    body = json.loads(answer.stdout)
    assert body["ok"] is False
    failed = {c["name"] for c in body["checks"] if c["status"] == "fail"}
    assert failed == {"settings.STARK_PROJECT_ID", "settings.ADMIN_TOKEN"}
    assert "short" not in answer.stdout


def test_command_names_the_broken_part_in_its_verdict(
    doctor_env: Callable[..., None], own_redis: Callable[..., str]
) -> None:
    register_webhook()
    doctor_env(own_redis("--appendonly", "yes", "--maxmemory-policy", "volatile-lru"))
    answer = runner.invoke(cli, ["doctor"])
    assert answer.exit_code == 1
    assert "Not ready: 1 check(s) failed: redis.eviction." in answer.output


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
