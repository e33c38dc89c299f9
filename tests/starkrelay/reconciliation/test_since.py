"""A reconcile's ``since``: refused (400, or a usage error in the CLI) naming the problem when
it is malformed or out of range; and when given, an ad-hoc run whose report is kept apart from
the daily one that the metrics, the alerts, the status and the console's last report read."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from tests.support.relay_harness import ADMIN_TOKEN, Relay, create_invoice, relay_context
from typer.testing import CliRunner

from starkrelay.cli import app
from starkrelay.console.auth import SIGNIN_COOKIE
from starkrelay.reconciliation.service import today_in

AUTH = {"authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def relay(redis_url: str, key_prefix: str) -> Iterator[Relay]:
    with relay_context(redis_url, key_prefix, sandbox={"pay_share": 0.0}) as running:
        running.register_webhook()
        yield running


def reconcile(relay: Relay, since: str | None = None) -> httpx.Response:
    assert relay.server is not None
    params = {} if since is None else {"since": since}
    url = relay.server.url + "/api/v1/admin/reconcile"
    return httpx.post(url, params=params, headers=AUTH, timeout=30)


def status(relay: Relay) -> dict[str, Any]:
    assert relay.server is not None
    body: dict[str, Any] = httpx.get(relay.server.url + "/api/v1/status", headers=AUTH).json()
    return body


REPORT_GAUGES = (
    "starkrelay_reconcile_report_cents",
    "starkrelay_reconcile_disagreements",
    "starkrelay_reconcile_unexplained_outflow_cents",
    "starkrelay_reconcile_unexplained_transfers",
    "starkrelay_reconcile_events_refused",
    "starkrelay_reconcile_last_success_timestamp_seconds",
)


def report_gauges(relay: Relay) -> list[str]:
    """The samples of the gauges read from the last (daily) money report."""
    assert relay.server is not None
    lines = httpx.get(relay.server.url + "/metrics").text.splitlines()
    return [line for line in lines if line.startswith(REPORT_GAUGES)]


def test_a_malformed_or_out_of_range_since_is_a_400_naming_the_problem(relay: Relay) -> None:
    today = today_in(relay.settings)
    problems = {
        "0001-01-01": "is before 2000-01-01",
        "1999-12-31": "is before 2000-01-01",
        "9999-12-31": f"is after today ({today.isoformat()} in America/Sao_Paulo)",
        (today + timedelta(days=1)).isoformat(): "is after today",
        "2024-02-30": "is not a day of the calendar",
        "2024-1-5": "must be a day written YYYY-MM-DD",
        "20240105": "must be a day written YYYY-MM-DD",
        "yesterday": "must be a day written YYYY-MM-DD",
        "": "must be a day written YYYY-MM-DD",
    }
    for since, problem in problems.items():
        answer = reconcile(relay, since)
        assert answer.status_code == 400, (since, answer.text)
        assert problem in answer.json()["detail"], (since, answer.json())
    assert status(relay)["last_reconciliation"] is None
    assert status(relay)["last_adhoc_reconciliation"] is None
    assert reconcile(relay, today.isoformat()).status_code == 200  # the lock was never held
    assert reconcile(relay, "2000-01-01").status_code == 200


def test_an_adhoc_reconcile_never_replaces_the_daily_report(relay: Relay) -> None:
    assert relay.server is not None
    invoice = create_invoice(6_000)
    relay.sb.pay_invoice(invoice.id)
    relay.sb.drain()
    today = today_in(relay.settings).isoformat()

    adhoc = reconcile(relay, today).json()
    assert (adhoc["kind"], adhoc["since"], adhoc["in_flight"]) == ("ad-hoc", today, 5_950)
    assert status(relay)["last_reconciliation"] is None
    assert report_gauges(relay) == []  # the gauges and alerts read the daily report only
    missing = httpx.get(relay.server.url + "/api/v1/report.json", headers=AUTH)
    assert missing.status_code == 404

    daily = reconcile(relay).json()
    assert daily["kind"] == "daily"
    gauges = report_gauges(relay)
    assert 'starkrelay_reconcile_report_cents{line="in_flight"} 5950.0' in gauges

    again = reconcile(relay, "2000-01-01").json()  # another window, ad-hoc
    assert again["since"] == "2000-01-01"
    shown = status(relay)
    assert shown["last_reconciliation"]["generated_at"] == daily["generated_at"]
    assert shown["last_adhoc_reconciliation"]["generated_at"] == again["generated_at"]
    assert report_gauges(relay) == gauges
    reports = httpx.get(relay.server.url + "/api/v1/reports", headers=AUTH).json()
    assert [r["generated_at"] for r in reports] == [daily["generated_at"]]

    with httpx.Client(base_url=relay.server.url, timeout=10) as console:
        form = console.get("/console/signin").cookies[SIGNIN_COOKIE]
        console.post("/console/signin", data={"token": ADMIN_TOKEN, "form_token": form})
        page = console.get("/console/money").text
    assert "Last ad-hoc report" in page
    assert "credited invoices since 2000-01-01" in page
    assert f"credited invoices since {daily['since']}" in page


def test_the_cli_refuses_a_since_it_cannot_reconcile_from(
    redis_url: str, key_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with relay_context(redis_url, key_prefix, serve=False) as relay:
        for name, value in {
            "STARK_PROJECT_ID": relay.sb.project_id,
            "STARK_PRIVATE_KEY": relay.sb.private_key,
            "STARK_API_URL": relay.sb.url,
            "REDIS_URL": redis_url,
            "REDIS_KEY_PREFIX": key_prefix,
            "LOG_LEVEL": "ERROR",
        }.items():
            monkeypatch.setenv(name, value)
        for since, problem in {
            "0001-01-01": "is before 2000-01-01",
            "9999-12-31": "is after today",
            "2024-02-30": "is not a day of the calendar",
            "01/02/2024": "must be a day written YYYY-MM-DD",
        }.items():
            result = CliRunner().invoke(
                app, ["reconcile", "--since", since], env={"COLUMNS": "200"}
            )
            assert result.exit_code == 2, (since, result.output)
            assert problem in " ".join(result.output.split()), (since, result.output)
