"""``starkrelay doctor`` as a person runs it: a checklist whose names never wrap, the account
forwards go to and the workspace Stark Bank reports, then the verdict as the last line (no
log line after it); ``--json`` for a machine."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog
from doctor_harness import (
    DESTINATION,
    doctor_values,
    register_webhook,
    workspace_of_an_event,
)
from tests.support.ports import free_port
from typer.testing import CliRunner

from starkrelay.cli import app as cli
from starksandbox.testing import SandboxHandle

runner = CliRunner()


def lines(output: str) -> list[str]:
    return [line.rstrip() for line in output.splitlines() if line.strip()]


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

    def apply(redis_url: str | None, **extra: str | None) -> None:
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
    doctor_env: Callable[..., None], own_redis_url: Callable[..., str]
) -> None:
    register_webhook()
    doctor_env(own_redis_url("--appendonly", "yes", "--maxmemory-policy", "volatile-lru"))
    answer = runner.invoke(cli, ["doctor"])
    assert answer.exit_code == 1
    assert "Not ready: 1 check(s) failed: redis.eviction." in answer.output


def test_command_shows_where_forwards_go(
    doctor_env: Callable[..., None], healthy_redis: str
) -> None:
    register_webhook()
    doctor_env(healthy_redis)
    answer = runner.invoke(cli, ["doctor"])
    assert f"This relay {DESTINATION}." in answer.output
    as_json = json.loads(runner.invoke(cli, ["doctor", "--json"]).stdout)
    assert as_json["destination"] == {
        "name": "Stark Bank S.A.",
        "bank_code": "20018183",
        "branch_code": "0001",
        "account_number": "6341320293482496",
        "account_type": "payment",
        "tax_id": "20.018.183/0001-80",
    }


def test_command_never_wraps_a_variable_name(
    doctor_env: Callable[..., None], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    garbage = tmp_path / "key.pem"
    garbage.write_text("not a key")
    doctor_env(
        None,
        admin_token="short",
        campaign_retry_initial_seconds="9999",  # above CAMPAIGN_RETRY_MAX_SECONDS
        stark_private_key=None,
        stark_private_key_file=str(garbage),
        api_external_url=None,
    )
    monkeypatch.setenv("COLUMNS", "80")
    answer = runner.invoke(cli, ["doctor"])
    assert answer.exit_code == 1
    shown = lines(answer.output)
    assert max(len(line) for line in shown) <= 80
    for name in (
        "ADMIN_TOKEN",
        "CAMPAIGN_RETRY_INITIAL_SECONDS",
        "API_EXTERNAL_URL",
        "REDIS_URL",
        "STARK_PRIVATE_KEY_FILE",
    ):
        assert f"✖ fail  settings.{name}" in shown
        assert f"→ set {name} correctly" in answer.output
    assert "expected at most CAMPAIGN_RETRY_MAX_SECONDS" in answer.output
    assert shown[-1].endswith("settings.STARK_PRIVATE_KEY_FILE.")


def test_command_prints_nothing_after_its_verdict_when_stark_bank_is_down(
    doctor_env: Callable[..., None], healthy_redis: str
) -> None:
    doctor_env(
        healthy_redis,
        stark_api_url=f"http://127.0.0.1:{free_port()}",
        bank_retry_deadline_seconds="0",
    )
    answer = runner.invoke(cli, ["doctor"])
    assert answer.exit_code == 1
    assert answer.stderr == ""  # the gateway's bank.call.unavailable is not logged
    assert lines(answer.output)[-1] == "Not ready: 1 check(s) failed: stark.credentials."
    assert "could not connect" in answer.output
