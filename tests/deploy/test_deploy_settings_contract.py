"""Every place that sets the service's environment speaks the names settings.py reads.

.env.example documents every variable of the shared contract (including the older names of
existing deployments); Docker Compose and the ECS task definitions set only names that
settings.py knows. Names are read from the Settings model itself, so the test follows it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from deploy_model import REPO, TerraformTree

# The variables of the shared contract (the project's settings contract), by group.
CONTRACT = {
    # deployment
    "ENVIRONMENT", "API_EXTERNAL_URL", "ADMIN_TOKEN", "LOG_LEVEL", "LOG_FORMAT",
    # redis
    "REDIS_URL", "REDIS_KEY_PREFIX",
    # Stark Bank, with the older key pair of existing deployments
    "STARK_ENVIRONMENT", "STARK_PROJECT_ID", "STARK_WORKSPACE_ID", "STARK_API_URL",
    "STARK_PRIVATE_KEY", "STARK_PRIVATE_KEY_FILE", "STARKBANK_EC_PARAMETERS",
    "STARKBANK_EC_PRIVATE_KEY",
    "BANK_RETRY_DEADLINE_SECONDS", "BANK_RETRY_MAX_WAIT_SECONDS", "BANK_TIMEOUT_SECONDS",
    # campaign and invoices
    "CAMPAIGN_INTERVAL_SECONDS", "CAMPAIGN_DURATION_SECONDS", "CAMPAIGN_GRACE_SECONDS",
    "CAMPAIGN_BATCH_MIN", "CAMPAIGN_BATCH_MAX", "INVOICE_AMOUNT_MIN", "INVOICE_AMOUNT_MAX",
    "INVOICE_DUE_SECONDS", "INVOICE_EXPIRATION_SECONDS",
    # destination
    "DESTINATION_BANK_CODE", "DESTINATION_BRANCH_CODE", "DESTINATION_ACCOUNT_NUMBER",
    "DESTINATION_NAME", "DESTINATION_TAX_ID", "DESTINATION_ACCOUNT_TYPE",
    # webhooks, forwarding, reconciliation
    "WEBHOOK_MAX_BODY_BYTES", "WEBHOOK_REPLAY_WINDOW_SECONDS", "PUBLIC_KEY_REFRESH_MIN_SECONDS",
    "FORWARD_BATCH_SIZE", "FORWARD_MAX_DELIVERIES", "FORWARD_CLAIM_IDLE_SECONDS",
    "FORWARD_BLOCK_MS", "FORWARD_MAX_RESENDS",
    "RECONCILE_CRON", "RECONCILE_TIMEZONE", "RECONCILE_LOOKBACK_DAYS",
}  # fmt: skip

# ECS injects the ElastiCache AUTH token as REDIS_PASSWORD next to a rediss:// REDIS_URL.
DEPLOYMENT = {"REDIS_PASSWORD"}

# Set in compose for the interpreter, not the service.
NOT_SETTINGS = {"PYTHONPATH"}

ENV_LINE = re.compile(r"^#?\s?([A-Z][A-Z0-9_]+)=", re.MULTILINE)


def env_example_names() -> set[str]:
    return set(ENV_LINE.findall((REPO / ".env.example").read_text(encoding="utf-8")))


def settings_names() -> set[str]:
    """Environment names the Settings model reads (field aliases, else upper-cased names)."""
    settings = pytest.importorskip("starkrelay.core.settings")
    model = settings.Settings
    prefix = str(model.model_config.get("env_prefix") or "")
    names = set()
    for name, field in model.model_fields.items():
        alias = field.validation_alias or field.alias
        choices = getattr(alias, "choices", None)
        if choices:
            names |= {str(choice).upper() for choice in choices if isinstance(choice, str)}
        elif isinstance(alias, str):
            names.add(alias.upper())
        else:
            names.add((prefix + name).upper())
    return names


def check_known(used: set[str], where: str) -> None:
    unknown = used - settings_names() - NOT_SETTINGS
    assert not unknown, f"{where} sets names settings.py does not read: {unknown}"


def test_settings_read_what_the_deployment_injects() -> None:
    assert settings_names() >= DEPLOYMENT


def test_env_example_documents_every_contract_variable() -> None:
    missing = CONTRACT - env_example_names()
    assert not missing, f".env.example does not document {sorted(missing)}"


def test_env_example_documents_every_setting() -> None:
    missing = settings_names() - env_example_names()
    assert not missing, f".env.example does not document {sorted(missing)}"


def test_env_example_names_are_all_read_by_settings() -> None:
    check_known(env_example_names(), ".env.example")


def test_env_example_holds_no_secret_value() -> None:
    for line in (REPO / ".env.example").read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or "=" not in line:
            continue
        name, value = line.split("=", 1)
        if any(word in name for word in ("KEY", "TOKEN", "PASSWORD")):
            assert value == "", f"{name} must be empty in .env.example"


def compose_environment_names() -> set[str]:
    yaml = pytest.importorskip("yaml")
    names: set[str] = set()
    for path in sorted(Path(REPO).glob("docker-compose*.yml")):
        text = path.read_text(encoding="utf-8")
        names |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", text))
        document = yaml.safe_load(text)
        anchors = [v for k, v in document.items() if k.startswith("x-") and isinstance(v, dict)]
        for environment in anchors + [
            s.get("environment") or {} for s in document["services"].values()
        ]:
            names |= set(environment)
    return names


def test_compose_sets_and_interpolates_only_documented_names() -> None:
    used = compose_environment_names()
    assert {"REDIS_URL", "STARK_API_URL", "STARK_PRIVATE_KEY_FILE"} <= used
    undocumented = used - env_example_names() - NOT_SETTINGS
    assert not undocumented, f"compose uses names .env.example does not document: {undocumented}"
    check_known(used, "docker compose")


SET_BESIDE_THE_LOCALS = {"WORKER_METRICS_PORT"}
"""Set on ECS, but not in ``container_environment``: by the ecs module."""

NOT_TUNABLE_ON_ECS = {
    "API_DOCS_ENABLED": "production turns the API docs off",
    "FORWARD_CONSUMER_NAME": "each task names its consumer after its host",
    "WORKER_METRICS_HOST": "the task's own listener, set by the module",
    "STARK_API_URL": "the emulator; refused with STARK_ENVIRONMENT=production",
    "STARK_PRIVATE_KEY_FILE": "the key comes from Secrets Manager as STARK_PRIVATE_KEY",
    "STARKBANK_EC_PARAMETERS": "the older key form; the key comes from Secrets Manager",
    "STARKBANK_EC_PRIVATE_KEY": "the older key form; the key comes from Secrets Manager",
}


def ecs_names(tf: TerraformTree) -> tuple[set[str], set[str], set[str]]:
    """(plain, secret, tunable): the names the Terraform sets in ``container_environment``,
    injects from Secrets Manager, and accepts in ``app_settings``."""
    expression = tf.locals()["container_environment"]
    plain = set(re.findall(r"([A-Z][A-Z0-9_]+) = ", expression))
    (tasks,) = [text for path, text in tf.texts.items() if path.name == "tasks.tf"]
    secret = set(re.findall(r'name = "([A-Z][A-Z0-9_]+)", valueFrom', tasks))
    (app_settings,) = [v for v in tf.variables() if v.name == "app_settings"]
    tunable = set(
        re.findall(r'"([A-Z][A-Z0-9_]+)"', app_settings.body["validation"][0]["condition"])
    )
    return plain, secret, tunable


def test_ecs_tasks_set_only_names_settings_reads(tf: TerraformTree) -> None:
    plain, secret, tunable = ecs_names(tf)
    assert {"STARK_PRIVATE_KEY", "ADMIN_TOKEN", "REDIS_PASSWORD"} == secret
    not_for_app_settings = plain | secret | SET_BESIDE_THE_LOCALS | set(NOT_TUNABLE_ON_ECS)
    assert CONTRACT - not_for_app_settings <= tunable, "a contract variable is not tunable"
    check_known(plain | secret | tunable, "deploy/terraform")


def test_every_setting_is_set_or_tunable_on_ecs(tf: TerraformTree) -> None:
    """A setting added to starkrelay is either managed by the Terraform, a secret, one of
    ``app_settings``, or listed above with the reason it is not set on ECS."""
    plain, secret, tunable = ecs_names(tf)
    settings = settings_names()
    unplaced = settings - plain - SET_BESIDE_THE_LOCALS - secret - tunable - set(NOT_TUNABLE_ON_ECS)
    assert not unplaced, f"settings neither managed nor in app_settings: {sorted(unplaced)}"
    assert set(NOT_TUNABLE_ON_ECS) <= settings, "a reason names a setting that is gone"
