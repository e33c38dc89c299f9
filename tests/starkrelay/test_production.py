"""``ENVIRONMENT=production`` means production: https, a real Redis, our workspace id given
(never learned), no public API docs; and the docs, where on, never load anything from a CDN."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.support.processes import starkrelay_command

from starkrelay.app import create_app
from starkrelay.core.settings import Settings, SettingsError, load_settings
from starksandbox.keys import new_key_pair

PEM, _ = new_key_pair()
BASE = {"stark_project_id": "5656565656565656", "stark_private_key": PEM, "_env_file": None}
WORKSPACE = "4545454545454545"
MISSING_WORKSPACE = (
    "STARK_WORKSPACE_ID: missing; expected our Stark Bank workspace id (digits) in production: "
    "Stark Bank's web banking shows it, and `starkrelay doctor` prints the id Stark Bank "
    "reports for these credentials"
)


def _error(**values: object) -> str:
    with pytest.raises(SettingsError) as caught:
        load_settings(**(BASE | values))
    return str(caught.value)


def test_production_refuses_a_public_url_that_is_not_https() -> None:
    message = _error(
        environment="production",
        api_external_url="http://relay.example.com",
        redis_url="redis://127.0.0.1:6379/0",
        stark_workspace_id=WORKSPACE,
    )
    assert message == (
        "invalid settings: API_EXTERNAL_URL: expected an https:// URL in production "
        "(Stark Bank delivers webhooks only over https)"
    )


def test_production_refuses_to_run_without_redis_url() -> None:
    message = _error(
        environment="production",
        api_external_url="https://relay.example.com",
        stark_workspace_id=WORKSPACE,
    )
    assert message.startswith("invalid settings: REDIS_URL: missing; expected the redis://")
    assert "\n" not in message


@pytest.mark.parametrize("given", [{}, {"stark_workspace_id": ""}, {"stark_workspace_id": " "}])
def test_production_refuses_to_run_without_our_workspace_id(given: dict[str, str]) -> None:
    message = _error(
        environment="production",
        api_external_url="https://relay.example.com",
        redis_url="redis://127.0.0.1:6379/0",
        **given,
    )
    assert message == f"invalid settings: {MISSING_WORKSPACE}"


def test_production_runs_with_our_workspace_id_and_development_without() -> None:
    production = load_settings(
        **BASE,
        environment="production",
        api_external_url="https://relay.example.com",
        redis_url="redis://127.0.0.1:6379/0",
        stark_workspace_id=WORKSPACE,
    )
    assert production.stark_workspace_id == WORKSPACE
    assert load_settings(**BASE).stark_workspace_id is None  # development may learn it


def test_development_keeps_http_and_the_embedded_valkey() -> None:
    settings = load_settings(**(BASE | {"api_external_url": "http://127.0.0.1:8000"}))
    assert settings.redis_url is None
    assert settings.docs_enabled


@pytest.mark.parametrize(
    ("environment", "variable"),
    [
        (
            {"API_EXTERNAL_URL": "http://relay.example.com", "REDIS_URL": "redis://h:6379/0"},
            "API_EXTERNAL_URL",
        ),
        ({"API_EXTERNAL_URL": "https://relay.example.com"}, "REDIS_URL"),
        (
            {
                "API_EXTERNAL_URL": "https://relay.example.com",
                "REDIS_URL": "redis://h:6379/0",
                "STARK_WORKSPACE_ID": "",
            },
            "STARK_WORKSPACE_ID",
        ),
    ],
)
def test_each_guard_stops_the_command_with_one_line(
    environment: dict[str, str], variable: str, tmp_path: Path
) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"},  # the code under test
        "ENVIRONMENT": "production",
        "STARK_PROJECT_ID": "5656565656565656",
        "STARK_PRIVATE_KEY": PEM,
        "STARK_WORKSPACE_ID": WORKSPACE,
        **environment,
    }
    result = subprocess.run(
        starkrelay_command("serve"),
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"starkrelay: invalid settings: {variable}: ")
    if variable == "STARK_WORKSPACE_ID":
        assert line == f"starkrelay: invalid settings: {MISSING_WORKSPACE}"
    assert result.stdout == ""


@pytest.fixture
def production(
    relay_settings: Callable[..., Settings], sandbox_workspace_id: str
) -> Callable[..., Settings]:
    """Production settings for this test's sandbox, with the emulator's workspace id."""

    def make(**values: object) -> Settings:
        return relay_settings(
            environment="production",
            api_external_url="https://relay.example.com",
            stark_workspace_id=sandbox_workspace_id,
            **values,
        )

    return make


def test_production_serves_no_api_docs(production: Callable[..., Settings]) -> None:
    with TestClient(create_app(production(), role="api")) as client:
        for path in ("/docs", "/redoc", "/openapi.json", "/docs-assets/swagger-ui-bundle.js"):
            assert client.get(path).status_code == 404, path
        assert client.get("/health").status_code == 200


def test_docs_when_enabled_load_nothing_from_outside(
    production: Callable[..., Settings],
) -> None:
    settings = production(api_docs_enabled=True)
    with TestClient(create_app(settings, role="api")) as client:
        assert client.get("/openapi.json").json()["info"]["title"] == "starkrelay"
        for page in ("/docs", "/redoc"):
            html = client.get(page).text
            sources = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
            sources += re.findall(r"""url:\s*['"]([^'"]+)['"]""", html)
            assert sources, page
            for source in sources:
                assert source.startswith("/"), (page, source)  # same origin, never a CDN
                assert client.get(source).status_code == 200, source
            assert "cdn." not in html
            assert "fonts.googleapis" not in html
