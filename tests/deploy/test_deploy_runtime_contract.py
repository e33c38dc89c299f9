"""The commands and environments the deployment files use are ones the service accepts.

Compose and the ECS task definitions start `starkrelay` and `starksandbox` with given options
and environments; here those exact options are checked against the real command line, and the
environments are fed to the real Settings model, with a key pair made by `starkrelay keygen`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from deploy_model import REPO, TerraformTree

yaml = pytest.importorskip("yaml")
typer_testing = pytest.importorskip("typer.testing")
cli = pytest.importorskip("starkrelay.cli")
settings_module = pytest.importorskip("starkrelay.core.settings")

runner = typer_testing.CliRunner()


def help_text(app: Any, *command: str) -> str:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    return str(result.output)


def options(command: list[str]) -> list[str]:
    return [part for part in command if part.startswith("--")]


@pytest.fixture(scope="module")
def key_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("keys")
    result = runner.invoke(cli.app, ["keygen", "--directory", str(directory)])
    assert result.exit_code == 0, result.output
    return directory


def test_keygen_writes_the_files_the_sandbox_override_mounts(key_directory: Path) -> None:
    override = (REPO / "docker-compose.override.yml").read_text(encoding="utf-8")
    for name in re.findall(r"/var/lib/starkrelay/keys/([a-z-]+\.pem)", override):
        assert (key_directory / name).is_file(), f"keygen does not write {name}"


def test_compose_and_ecs_commands_use_existing_options() -> None:
    override = yaml.safe_load((REPO / "docker-compose.override.yml").read_text(encoding="utf-8"))
    sandbox = override["services"]["starksandbox"]["command"]
    from starksandbox.cli import app as sandbox_app

    text = help_text(sandbox_app, "serve")
    for option in options(sandbox):
        assert option in text, f"starksandbox serve has no {option}"
    for role in ("serve", "api"):
        text = help_text(cli.app, role)
        assert "--host" in text
        assert "--port" in text
    help_text(cli.app, "worker")
    help_text(cli.app, "webhook", "ensure")


def _resolve(value: str) -> str:
    """Compose's ${NAME:-default} with nothing set: the default."""
    return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", str(value))


def test_the_sandbox_environment_is_accepted_by_settings(key_directory: Path) -> None:
    override = yaml.safe_load((REPO / "docker-compose.override.yml").read_text(encoding="utf-8"))
    environment = {k: _resolve(v) for k, v in override["x-sandbox-environment"].items()}
    key_file = environment.pop("STARK_PRIVATE_KEY_FILE")
    environment["STARK_PRIVATE_KEY_FILE"] = str(key_directory / Path(key_file).name)
    settings = settings_module.load_settings(**{k.lower(): v for k, v in environment.items()})
    assert str(settings.stark_api_url).rstrip("/") == "http://starksandbox:8900"
    assert settings.webhook_url == "http://starkrelay:8000/api/v1/webhooks/starkbank"
    assert settings.campaign_slot_count == 8


def test_the_ecs_environment_is_accepted_by_settings(
    tf: TerraformTree, key_directory: Path
) -> None:
    expression = tf.locals()["container_environment"]
    samples = {
        "var.stark_environment": "production",
        "var.stark_project_id": "5656565656565656",
        "var.stark_workspace_id": "4545454545454545",
        "local.public_url": "https://relay.example.com",
        "module.redis.url": "rediss://master.example.cache.amazonaws.com:6379/0",
        "var.log_level": "INFO",
    }
    environment = {}
    for name, value in re.findall(r"([A-Z][A-Z0-9_]+) = ([^,}]+)", expression):
        environment[name] = value.strip('"') if value.startswith('"') else samples[value]
    private_key = (key_directory / "private-key.pem").read_text(encoding="utf-8")
    settings = settings_module.load_settings(
        **{k.lower(): v for k, v in environment.items()},
        stark_private_key=private_key,
        admin_token="0123456789abcdef0123456789abcdef",
    )
    assert settings.environment == "production"
    assert settings.webhook_url == "https://relay.example.com/api/v1/webhooks/starkbank"
