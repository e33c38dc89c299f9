"""Settings: names existing deployments use, one-line errors naming the variable, no secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from ellipticcurve import PrivateKey

from starkrelay.core.settings import Settings, SettingsError, load_settings

PEM = PrivateKey().toPem()

ALL_NAMES = [
    "ENVIRONMENT",
    "STARK_ENVIRONMENT",
    "STARK_PROJECT_ID",
    "STARK_PRIVATE_KEY",
    "STARK_PRIVATE_KEY_FILE",
    "STARKBANK_EC_PARAMETERS",
    "STARKBANK_EC_PRIVATE_KEY",
    "API_EXTERNAL_URL",
    "REDIS_URL",
    "ADMIN_TOKEN",
    "STARK_API_URL",
    "STARK_WORKSPACE_ID",
    "REDIS_KEY_PREFIX",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "CAMPAIGN_INTERVAL_SECONDS",
    "CAMPAIGN_DURATION_SECONDS",
    "CAMPAIGN_GRACE_SECONDS",
    "CAMPAIGN_BATCH_MIN",
    "CAMPAIGN_BATCH_MAX",
    "INVOICE_AMOUNT_MIN",
    "INVOICE_AMOUNT_MAX",
    "INVOICE_DUE_SECONDS",
    "INVOICE_EXPIRATION_SECONDS",
    "DESTINATION_BANK_CODE",
    "DESTINATION_BRANCH_CODE",
    "DESTINATION_ACCOUNT_NUMBER",
    "DESTINATION_NAME",
    "DESTINATION_TAX_ID",
    "DESTINATION_ACCOUNT_TYPE",
    "WEBHOOK_MAX_BODY_BYTES",
    "WEBHOOK_REPLAY_WINDOW_SECONDS",
    "PUBLIC_KEY_REFRESH_MIN_SECONDS",
    "FORWARD_BATCH_SIZE",
    "FORWARD_MAX_DELIVERIES",
    "FORWARD_CLAIM_IDLE_SECONDS",
    "FORWARD_BLOCK_MS",
    "FORWARD_MAX_RESENDS",
    "RECONCILE_CRON",
    "RECONCILE_TIMEZONE",
    "RECONCILE_LOOKBACK_DAYS",
    "BANK_RETRY_DEADLINE_SECONDS",
    "BANK_RETRY_MAX_WAIT_SECONDS",
    "BANK_TIMEOUT_SECONDS",
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No variable from the machine running the tests, and no stray .env."""
    for name in ALL_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def error_of(**env: str) -> str:
    with pytest.raises(SettingsError) as caught:
        load_settings(**env)
    return str(caught.value)


def test_every_shared_variable_is_a_setting() -> None:
    fields = {name.upper() for name in Settings.model_fields}
    assert set(ALL_NAMES) <= fields


def test_defaults_match_the_shared_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STARK_PROJECT_ID", "5656565656565656")
    monkeypatch.setenv("STARK_PRIVATE_KEY", PEM)
    settings = load_settings()
    assert settings.campaign_slot_count == 8
    assert settings.campaign_batch_min == 8
    assert settings.campaign_batch_max == 12
    assert settings.redis_key_prefix == "starkrelay"
    assert settings.destination_bank_code == "20018183"
    assert settings.destination_tax_id == "20.018.183/0001-80"
    assert settings.destination_account_type == "payment"
    assert settings.reconcile_cron == "0 1 * * *"
    assert settings.webhook_url is None


def test_reads_the_environment_and_a_dotenv_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "STARK_PROJECT_ID=123\n"
        f'STARK_PRIVATE_KEY="{PEM.strip().replace(chr(10), chr(92) + "n")}"\n'
        "API_EXTERNAL_URL=https://relay.example.com/\n"
        "CAMPAIGN_DURATION_SECONDS=0\n"
    )
    settings = load_settings()
    assert settings.stark_project_id == "123"
    assert settings.webhook_url == "https://relay.example.com/api/v1/webhooks/starkbank"
    assert settings.campaign_slot_count is None
    assert "BEGIN EC PRIVATE KEY" in settings.private_key_pem.get_secret_value()


def test_private_key_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_text(PEM)
    settings = load_settings(stark_project_id="1", stark_private_key_file=str(path))
    assert settings.private_key_pem.get_secret_value() == PEM


def test_private_key_from_the_older_pair_without_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    body = "".join(PEM.strip().splitlines()[1:-1])
    monkeypatch.setenv("STARK_PROJECT_ID", "1")
    monkeypatch.setenv("STARKBANK_EC_PARAMETERS", "BgUrgQQACg==")
    monkeypatch.setenv("STARKBANK_EC_PRIVATE_KEY", body)
    pem = load_settings().private_key_pem.get_secret_value()
    assert "EC PARAMETERS" in pem
    assert body[:20] in pem


def test_missing_project_id_names_the_variable() -> None:
    message = error_of(stark_private_key=PEM)
    assert message.startswith("invalid settings: STARK_PROJECT_ID: missing")
    assert "\n" not in message


def test_missing_private_key_names_every_accepted_source() -> None:
    message = error_of(stark_project_id="1")
    assert "STARK_PRIVATE_KEY: missing" in message
    assert "STARK_PRIVATE_KEY_FILE" in message
    assert "STARKBANK_EC_PRIVATE_KEY" in message


def test_malformed_key_is_refused_without_echoing_it() -> None:
    secret = "not-a-key-but-a-secret-value-1234"
    message = error_of(stark_project_id="1", stark_private_key=secret)
    assert "STARK_PRIVATE_KEY: expected a secp256k1 private key" in message
    assert secret not in message


def test_unreadable_key_file_is_named(tmp_path: Path) -> None:
    message = error_of(stark_project_id="1", stark_private_key_file=str(tmp_path / "nope.pem"))
    assert message.startswith("invalid settings: STARK_PRIVATE_KEY_FILE: cannot read")


def test_emulator_url_refused_in_production() -> None:
    message = error_of(
        stark_project_id="1",
        stark_private_key=PEM,
        stark_environment="production",
        stark_api_url="http://127.0.0.1:8900",
    )
    assert "STARK_API_URL: refused with STARK_ENVIRONMENT=production" in message


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"campaign_batch_min": "x"}, "CAMPAIGN_BATCH_MIN: Input should be a valid integer"),
        ({"campaign_batch_min": "13"}, "CAMPAIGN_BATCH_MIN: expected at most CAMPAIGN_BATCH_MAX"),
        ({"campaign_interval_seconds": "0"}, "CAMPAIGN_INTERVAL_SECONDS: Input should be greater"),
        ({"campaign_duration_seconds": "60"}, "CAMPAIGN_DURATION_SECONDS: expected 0 (endless)"),
        ({"stark_environment": "prod"}, "STARK_ENVIRONMENT: Input should be 'sandbox' or"),
        ({"redis_url": "http://x"}, "REDIS_URL: expected a redis://"),
        ({"reconcile_cron": "every day"}, "RECONCILE_CRON: expected a 5-field crontab"),
        ({"reconcile_timezone": "Mars/Base"}, "RECONCILE_TIMEZONE: expected an IANA time zone"),
        ({"destination_account_type": "gold"}, "DESTINATION_ACCOUNT_TYPE: Input should be"),
        ({"environment": "production"}, "API_EXTERNAL_URL: expected the public https URL"),
    ],
)
def test_malformed_values_name_the_variable(overrides: dict[str, str], expected: str) -> None:
    message = error_of(stark_project_id="1", stark_private_key=PEM, **overrides)
    assert expected in message
    assert "\n" not in message


def test_placeholder_admin_token_refused_and_never_shown() -> None:
    message = error_of(stark_project_id="1", stark_private_key=PEM, admin_token="changeme")
    assert message.startswith("invalid settings: ADMIN_TOKEN: expected a random token")
    assert "changeme" not in message


def test_secrets_never_appear_in_repr() -> None:
    token = "a-very-random-admin-token-0123456789"
    settings = load_settings(stark_project_id="1", stark_private_key=PEM, admin_token=token)
    shown = repr(settings) + str(settings)
    assert token not in shown
    assert PEM.strip().splitlines()[1] not in shown
    assert settings.admin_token is not None
    assert settings.admin_token.get_secret_value() == token


def test_redis_password_not_in_repr() -> None:
    settings = load_settings(
        stark_project_id="1", stark_private_key=PEM, redis_url="redis://:hunter2-pw@10.0.0.1:6379/0"
    )
    assert "hunter2-pw" not in repr(settings)
    assert settings.redis_url == "redis://:hunter2-pw@10.0.0.1:6379/0"


def test_empty_admin_token_turns_admin_off() -> None:
    settings = load_settings(stark_project_id="1", stark_private_key=PEM, admin_token="")
    assert settings.admin_token is None


def test_empty_optional_values_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("API_EXTERNAL_URL", "ADMIN_TOKEN", "STARK_WORKSPACE_ID", "STARK_API_URL"):
        monkeypatch.setenv(name, "")
    monkeypatch.setenv("LOG_LEVEL", "")
    settings = load_settings(stark_project_id="1", stark_private_key=PEM, redis_url=" ")
    assert settings.api_external_url is None
    assert settings.admin_token is None
    assert settings.stark_workspace_id is None
    assert settings.stark_api_url is None
    assert settings.redis_url is None
    assert settings.log_level == "INFO"


@pytest.mark.parametrize(("given", "level"), [("debug", "DEBUG"), ("Warning", "WARNING")])
def test_log_level_is_case_insensitive(
    monkeypatch: pytest.MonkeyPatch, given: str, level: str
) -> None:
    monkeypatch.setenv("LOG_LEVEL", given)
    monkeypatch.setenv("LOG_FORMAT", "CONSOLE")
    settings = load_settings(stark_project_id="1", stark_private_key=PEM)
    assert (settings.log_level, settings.log_format) == (level, "console")
    assert "LOG_LEVEL: Input should be" in error_of(
        stark_project_id="1", stark_private_key=PEM, log_level="loud"
    )


ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"


def test_a_fresh_copy_of_env_example_names_only_what_must_be_filled(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(ENV_EXAMPLE.read_text())
    message = error_of()
    assert message.startswith("invalid settings: STARK_PROJECT_ID: missing; expected")
    assert message.count(": missing") == 1
    assert "API_EXTERNAL_URL" not in message
    assert "ADMIN_TOKEN" not in message


def test_a_fresh_copy_of_env_example_loads_once_filled_in(tmp_path: Path) -> None:
    key = tmp_path / "keys" / "private-key.pem"
    key.parent.mkdir()
    key.write_text(PEM)
    text = ENV_EXAMPLE.read_text()
    assert "\nSTARK_PROJECT_ID=\n" in text
    text = text.replace("\nSTARK_PROJECT_ID=\n", "\nSTARK_PROJECT_ID=5656565656565656\n")
    (tmp_path / ".env").write_text(text + f"STARK_PRIVATE_KEY_FILE={key}\n")
    settings = load_settings()
    assert settings.stark_project_id == "5656565656565656"
    assert settings.api_external_url is None
    assert settings.admin_token is None
    assert settings.private_key_pem.get_secret_value() == PEM


def test_env_example_documents_the_real_keygen() -> None:
    from typer.testing import CliRunner

    from starkrelay.cli import app

    text = ENV_EXAMPLE.read_text()
    assert "keygen --directory" in text
    assert "private-key.pem" in text
    assert "--out" not in text
    assert "private.pem" not in text
    usage = CliRunner().invoke(app, ["keygen", "--help"]).output
    assert "--directory" in usage
