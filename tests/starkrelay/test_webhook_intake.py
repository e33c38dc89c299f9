"""The webhook route's state, built once per process, and its entry in the OpenAPI document."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from starkrelay.api import deps
from starkrelay.api.webhook import WebhookIntake
from starkrelay.app import create_app
from starkrelay.core.settings import WEBHOOK_PATH, Settings
from starkrelay.core.supervision import Supervisor
from starkrelay.webhooks.intake import Outcome

SettingsFactory = Callable[..., Settings]


def _intake(settings: Any, required: tuple[str, ...]) -> tuple[WebhookIntake, Supervisor]:
    supervisor = Supervisor(heartbeat_timeout=60)
    fields: dict[str, Any] = {
        "settings": settings, "store": object(), "bank": object(),
        "public_key": object(),
    }  # fmt: skip
    return WebhookIntake.build(deps.Services(**fields), supervisor, required), supervisor


def test_webhook_intake_holds_the_process_collaborators(relay_settings: SettingsFactory) -> None:
    settings = relay_settings(webhook_replay_window_seconds=600, webhook_clock_skew_seconds=5)
    intake, _ = _intake(settings, ())
    assert intake.workspace_filter.setting == settings.stark_workspace_id
    assert intake.policy.replay_window_seconds == 600
    assert intake.replay_window.total_seconds() == 600
    assert intake.clock_skew.total_seconds() == 5
    assert intake.unavailable() is None


def test_webhook_intake_says_why_it_cannot_act(relay_settings: SettingsFactory) -> None:
    intake, supervisor = _intake(relay_settings(), ("forwarding",))
    assert intake.unavailable() == "not running: forwarding"
    supervisor.heartbeat("forwarding").running()
    assert intake.unavailable() is None
    supervisor.fail(1, "boom")
    assert intake.unavailable() == "the process is stopping"


def test_the_openapi_document_lists_the_webhook_with_its_request_and_answers(
    relay_settings: SettingsFactory,
) -> None:
    app = create_app(relay_settings(api_docs_enabled=True), role="api")
    document = TestClient(app).get("/openapi.json").json()
    operation = document["paths"][WEBHOOK_PATH]["post"]
    assert "403 another workspace" in operation["description"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["event"]
    assert {"id", "created", "subscription", "log"} <= set(body["properties"]["event"]["required"])
    assert [p["name"] for p in operation["parameters"]] == ["Digital-Signature"]
    outcomes = {
        status: set(
            answer["content"]["application/json"]["schema"]["properties"]["outcome"]["enum"]
        )
        for status, answer in operation["responses"].items()
    }
    assert outcomes == {
        "200": {outcome.value for outcome in Outcome},
        "400": {"disconnected", "malformed", "stale", "future"},
        "401": {"unsigned"},
        "403": {"other_workspace"},
        "413": {"too_large"},
        "503": {"unavailable"},
    }
    assert all(answer["description"] for answer in operation["responses"].values())
    assert app.openapi() is app.openapi()  # built once
