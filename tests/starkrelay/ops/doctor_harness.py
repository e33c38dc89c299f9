"""What the doctor's tests share: settings for a healthy setup pointed at the test's emulator,
and short ways to run the doctor and read its results (their Redis servers: the fixtures
``own_redis_url`` and ``healthy_redis`` of this folder's conftest)."""

from __future__ import annotations

import asyncio
from typing import Any

import starkbank
from tests.support.relay_harness import workspace_of

from starkrelay.cli.doctor_run import DoctorReport, Status, run_doctor
from starkrelay.core.settings import load_settings
from starksandbox.testing import SandboxHandle

PUBLIC_URL = "https://relay.example.test"
ADMIN_TOKEN = "doctor-admin-token-8d1f3c"
SUBSCRIPTIONS = ("invoice", "transfer")
DESTINATION = (
    "forwards to Stark Bank S.A., bank 20018183, branch 0001, account 6341320293482496 "
    "(payment), tax ID 20.018.183/0001-80"
)


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


def doctor_with(values: dict[str, Any], **options: Any) -> DoctorReport:
    """The doctor run with exactly these settings (no environment, no .env)."""
    return asyncio.run(
        run_doctor(
            load=lambda **extra: load_settings(_env_file=None, **(values | extra)), **options
        )
    )


def doctor(sandbox: SandboxHandle, redis_url: str, **overrides: Any) -> DoctorReport:
    values = doctor_values(sandbox, redis_url, **overrides)
    check_url = bool(values.pop("check_url", False))
    verify = values.pop("verify", True)
    return doctor_with(values, check_url=check_url, verify=verify)


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
