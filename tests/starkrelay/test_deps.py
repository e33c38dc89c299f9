"""The webhook route's single dependency gives what the separate providers give."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.requests import Request

from starkrelay.api import deps
from starkrelay.core.supervision import Supervisor

pytestmark = pytest.mark.anyio


def _request(required: tuple[str, ...]) -> tuple[Request, Supervisor]:
    app = FastAPI()
    supervisor = Supervisor(heartbeat_timeout=60)
    fields: dict[str, Any] = {
        "settings": object(), "redis": object(), "keys": object(), "bank": object(),
        "public_key": object(),
    }  # fmt: skip
    app.state.services = deps.Services(**fields)
    app.state.supervisor = supervisor
    app.state.intake_requires = required
    app.state.webhook_verifier = object()
    app.state.workspace_filter = SimpleNamespace()
    return Request({"type": "http", "app": app, "headers": []}), supervisor


async def test_webhook_intake_gathers_the_same_collaborators() -> None:
    await _gathers()


async def _gathers() -> None:
    request, _ = _request(())
    intake = await deps.get_webhook_intake(request)
    assert intake.settings is await deps.get_settings(request)
    assert intake.redis is await deps.get_redis(request)
    assert intake.keys is await deps.get_keys(request)
    assert intake.verifier is await deps.get_webhook_verifier(request)
    assert intake.workspace_filter is await deps.get_workspace_filter(request)
    assert intake.unavailable is None


async def test_webhook_intake_says_why_it_cannot_act() -> None:
    await _says_why()


async def _says_why() -> None:
    request, supervisor = _request(("forwarding",))
    intake = await deps.get_webhook_intake(request)
    assert intake.unavailable == "not running: forwarding"
    assert intake.unavailable == await deps.intake_unavailable(request)
    supervisor.heartbeat("forwarding").running()
    assert (await deps.get_webhook_intake(request)).unavailable is None
    supervisor.fail(1, "boom")
    assert (await deps.get_webhook_intake(request)).unavailable == "the process is stopping"
