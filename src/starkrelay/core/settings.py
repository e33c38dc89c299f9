"""Every setting of the service, read once from the environment (and an optional ``.env``).

This is the only module that reads the environment. Names are the upper-case field names
(``stark_project_id`` is ``STARK_PROJECT_ID``), so the ``.env`` files of existing deployments
keep working. Durations are plain seconds (ints or floats) so tests and demos compress them.

Callers may rely on:

- ``load_settings()`` either returns a fully valid ``Settings`` or raises ``SettingsError``
  whose message is one line naming each wrong variable and what is expected. It never
  contains a secret's value (inputs are never echoed).
- Secrets (``private_key_pem``, ``admin_token``) are ``SecretStr``: their ``repr``/``str``
  are masked, so logging a ``Settings`` is safe.
- The private key comes from the first of ``STARK_PRIVATE_KEY``, ``STARK_PRIVATE_KEY_FILE``
  or the older ``STARKBANK_EC_*`` pair, checked to be secp256k1 (``core.private_key``).
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    AnyHttpUrl,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from starkrelay.core.private_key import resolve_private_key

WEBHOOK_PATH = "/api/v1/webhooks/starkbank"
"""Fixed path of the webhook route; registered as ``API_EXTERNAL_URL + WEBHOOK_PATH``."""

_PLACEHOLDERS = frozenset(
    {"changeme", "change-me", "change_me", "secret", "password", "admin", "token", "xxx", "todo"}
)


class SettingsError(Exception):
    """The configuration is missing or malformed; the message is one line, free of secrets."""


class Settings(BaseSettings):
    """The whole configuration. Build it with ``load_settings()`` (or directly in tests)."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        env_ignore_empty=True,  # NAME= (as in a fresh copy of .env.example) means unset
    )

    # --- deployment -------------------------------------------------------------------------
    environment: Literal["development", "production"] = "development"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Case-insensitive: ``debug`` is ``DEBUG``."""
    log_format: Literal["json", "console"] = "json"
    """Case-insensitive."""
    api_external_url: AnyHttpUrl | None = Field(
        default=None, description="the public https base URL of this service"
    )
    admin_token: SecretStr | None = Field(
        default=None, description="a random token of at least 16 characters"
    )
    redis_url: str | None = Field(
        default=None,
        description="a redis:// or rediss:// URL (unset: embedded Valkey)",
        repr=False,  # may carry a password
    )
    redis_password: SecretStr | None = Field(
        default=None,
        description="the Redis AUTH password when REDIS_URL has none (ElastiCache's token)",
    )
    redis_key_prefix: str = Field(
        default="starkrelay", description="letters, digits, '-', '_', '.' or ':'"
    )
    api_docs_enabled: bool | None = None
    """Interactive API docs (/docs, /redoc, /openapi.json); unset: on in development only."""

    # --- supervision of the background parts ------------------------------------------------
    startup_retry_deadline_seconds: float = Field(default=300.0, gt=0)
    startup_retry_max_wait_seconds: float = Field(default=30.0, gt=0)
    heartbeat_timeout_seconds: float = Field(default=180.0, gt=0)
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = Field(default=8001, ge=1, le=65535)
    """``starkrelay worker`` serves its app (/metrics and health) here."""

    # --- Stark Bank -------------------------------------------------------------------------
    stark_environment: Literal["sandbox", "production"] = "sandbox"
    stark_project_id: str = Field(description="the Stark Bank project id (digits)")
    stark_workspace_id: str | None = None
    stark_private_key: SecretStr | None = None
    stark_private_key_file: Path | None = None
    starkbank_ec_parameters: SecretStr | None = None
    starkbank_ec_private_key: SecretStr | None = None
    stark_api_url: AnyHttpUrl | None = Field(
        default=None, description="the base URL of a starksandbox, e.g. http://127.0.0.1:8900"
    )
    bank_retry_deadline_seconds: float = Field(default=30.0, ge=0)
    bank_retry_max_wait_seconds: float = Field(default=5.0, gt=0)
    bank_backoff_max_seconds: float = Field(default=120.0, gt=0)
    """Longest wait between two rounds of work that keeps trying while Stark Bank throttles
    or fails (the forwarding worker): never gives up, never dead-letters for it."""
    bank_timeout_seconds: float = Field(default=15.0, gt=0)

    # --- invoice campaign -------------------------------------------------------------------
    campaign_interval_seconds: float = Field(default=10800.0, gt=0)
    campaign_duration_seconds: float = Field(default=86400.0, ge=0)
    campaign_grace_seconds: float = Field(default=1800.0, ge=0)
    campaign_batch_min: int = Field(default=8, ge=1, le=100)
    campaign_batch_max: int = Field(default=12, ge=1, le=100)
    campaign_retry_initial_seconds: float = Field(default=60.0, gt=0)
    campaign_retry_max_seconds: float = Field(default=600.0, gt=0)
    invoice_amount_min: int = Field(default=1000, ge=1)
    invoice_amount_max: int = Field(default=100000, ge=1)
    invoice_due_seconds: float = Field(default=172800.0, gt=0)
    invoice_expiration_seconds: int = Field(default=5097600, ge=0)
    invoice_discount_percent: float = Field(default=0.0, ge=0, lt=100)
    invoice_discount_seconds: float = Field(default=86400.0, ge=0)

    # --- forward destination ----------------------------------------------------------------
    destination_bank_code: str = Field(default="20018183", pattern=r"^\d{3,8}$")
    destination_branch_code: str = Field(default="0001", pattern=r"^[\d-]{1,10}$")
    destination_account_number: str = Field(default="6341320293482496", pattern=r"^[\d-]{1,20}$")
    destination_name: str = Field(default="Stark Bank S.A.", min_length=1)
    destination_tax_id: str = Field(default="20.018.183/0001-80", pattern=r"^[\d./-]{11,18}$")
    destination_account_type: Literal["checking", "savings", "salary", "payment"] = "payment"

    # --- webhooks ---------------------------------------------------------------------------
    webhook_max_body_bytes: int = Field(default=262144, ge=1024)
    webhook_replay_window_seconds: float = Field(default=604800.0, gt=0)
    webhook_clock_skew_seconds: float = Field(default=300.0, ge=0, le=86400)
    """How far in the future an event (or its log) may be dated; later ones are refused."""
    public_key_refresh_min_seconds: float = Field(default=60.0, ge=0)

    # --- forwarding -------------------------------------------------------------------------
    forward_batch_size: int = Field(default=100, ge=1, le=100)
    forward_max_deliveries: int = Field(default=5, ge=1)
    forward_claim_idle_seconds: float = Field(default=60.0, gt=0)
    forward_block_ms: int = Field(default=1000, ge=0)
    forward_max_resends: int = Field(default=2, ge=0)
    forward_consumer_name: str | None = None
    """This process's consumer name in the forward group; unset: ``<hostname>-<role>``."""
    forward_concurrency: int = Field(default=2, ge=1, le=8)
    """Batches this process forwards at once, each by a consumer of its own (``<name>``,
    ``<name>.2``, ...): one batch's Stark Bank calls overlap another's work."""
    forward_balance_check_seconds: float = Field(default=60.0, gt=0)

    # --- outflow limits ---------------------------------------------------------------------
    forward_max_amount: int = Field(default=0, ge=0)
    """Cents one forward may send; a larger one is held for a person's approval (0: no cap)."""
    forward_daily_limit: int = Field(default=0, ge=0)
    """Cents all forwards may send in one day of ``RECONCILE_TIMEZONE``; past it, forwards
    are held for a person's approval (0: no limit)."""
    forward_hourly_count: int = Field(default=0, ge=0)
    """Forwards in one clock hour; past it, forwards are held (0: no limit)."""
    forward_release_held_next_day: bool = False
    """Forwards held for the day's budget (or the hour's count) are enqueued again, to be
    counted against the next day's, once that day begins; off: only a person releases them."""

    # --- metrics ----------------------------------------------------------------------------
    metrics_scrape_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    """How long a /metrics scrape may wait for Redis before answering without shared state."""

    # --- reconciliation ---------------------------------------------------------------------
    reconcile_cron: str = "0 1 * * *"
    reconcile_timezone: str = "America/Sao_Paulo"
    reconcile_lookback_days: int = Field(default=3, ge=1, le=90)
    reconcile_report_history: int = Field(default=30, ge=1, le=1000)
    """Money reports kept in Redis, newest first (the console's report history)."""

    # --- console ----------------------------------------------------------------------------
    console_session_seconds: float = Field(default=28800.0, gt=0)
    """How long a console sign-in lasts (8 h)."""
    console_signin_link_seconds: float = Field(default=300.0, gt=0)
    """How long a one-time sign-in link (``starkrelay demo --keep-running``) stays usable."""
    console_refresh_seconds: float = Field(default=5.0, ge=1)
    """How often the console's overview refreshes itself."""

    _private_key_pem: SecretStr = PrivateAttr(default=SecretStr(""))

    # --- field checks -----------------------------------------------------------------------
    @field_validator(
        "api_external_url", "admin_token", "redis_url", "redis_password", "stark_workspace_id",
        "stark_private_key", "stark_private_key_file", "starkbank_ec_parameters",
        "starkbank_ec_private_key", "stark_api_url", "forward_consumer_name",
        mode="before",
    )  # fmt: skip
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        """An empty (or blank) optional setting means unset, wherever it comes from."""
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("stark_project_id", "stark_workspace_id")
    @classmethod
    def _digits(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\d{1,32}", value):
            raise ValueError("expected digits only, e.g. 5656565656565656")
        return value

    @field_validator("redis_key_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", value):
            raise ValueError("expected 1-64 letters, digits, '-', '_', '.' or ':'")
        return value

    @field_validator("forward_consumer_name")
    @classmethod
    def _consumer_name(cls, value: str | None) -> str | None:
        if value and not re.fullmatch(r"[A-Za-z0-9_.:@-]{1,128}", value):
            raise ValueError(
                "expected 1-128 letters, digits, '-', '_', '.', ':' or '@', "
                "the same on every restart of this process (e.g. host-a-worker-2)"
            )
        return value or None

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^(redis|rediss|unix)://", value):
            raise ValueError("expected a redis://, rediss:// or unix:// URL")
        return value or None

    @field_validator("admin_token")
    @classmethod
    def _admin_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or value.get_secret_value() == "":
            return None
        token = value.get_secret_value()
        if token.lower() in _PLACEHOLDERS or len(token) < 16:
            raise ValueError(
                "expected a random token of at least 16 characters, not a placeholder "
                "(unset it to turn the admin endpoints off)"
            )
        return value

    @field_validator("reconcile_timezone", "reconcile_cron")
    @classmethod
    def _schedule(cls, value: str, info: ValidationInfo) -> str:
        from apscheduler.triggers.cron import CronTrigger

        parse: Callable[[str], object] = zoneinfo.ZoneInfo
        expected = "an IANA time zone such as America/Sao_Paulo"
        if info.field_name == "reconcile_cron":
            parse, expected = CronTrigger.from_crontab, "a 5-field crontab such as '0 1 * * *'"
        try:
            parse(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"expected {expected}") from None
        return value

    # --- cross-field checks -----------------------------------------------------------------
    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        problems: list[str] = []
        if self.stark_api_url is not None and self.stark_environment == "production":
            problems.append(
                "STARK_API_URL: refused with STARK_ENVIRONMENT=production "
                "(an emulator URL is for sandbox only; unset one of them)"
            )
        if self.campaign_batch_min > self.campaign_batch_max:
            problems.append("CAMPAIGN_BATCH_MIN: expected at most CAMPAIGN_BATCH_MAX")
        if self.invoice_amount_min > self.invoice_amount_max:
            problems.append("INVOICE_AMOUNT_MIN: expected at most INVOICE_AMOUNT_MAX")
        if self.campaign_retry_initial_seconds > self.campaign_retry_max_seconds:
            problems.append(
                "CAMPAIGN_RETRY_INITIAL_SECONDS: expected at most CAMPAIGN_RETRY_MAX_SECONDS"
            )
        if self.invoice_discount_percent > 0 and not (
            0 < self.invoice_discount_seconds <= self.invoice_due_seconds
        ):
            problems.append(
                "INVOICE_DISCOUNT_SECONDS: expected above 0 and at most INVOICE_DUE_SECONDS "
                "(the discount ends on or before the due date)"
            )
        duration, interval = self.campaign_duration_seconds, self.campaign_interval_seconds
        if 0 < duration < interval:
            problems.append(
                "CAMPAIGN_DURATION_SECONDS: expected 0 (endless) or at least "
                "CAMPAIGN_INTERVAL_SECONDS"
            )
        problems.extend(self._production_problems())
        try:
            self._private_key_pem = SecretStr(resolve_private_key(self))
        except ValueError as error:
            problems.append(str(error))
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _production_problems(self) -> list[str]:
        """What ``ENVIRONMENT=production`` refuses: a public URL that is not https, no
        ``REDIS_URL`` (the embedded Valkey is a throwaway store without a password), and no
        ``STARK_WORKSPACE_ID`` (learning it would let other workspaces' events in until
        learned, at a fresh start and after a Redis data loss)."""
        if self.environment != "production":
            return []
        problems: list[str] = []
        if self.api_external_url is None:
            problems.append("API_EXTERNAL_URL: expected the public https URL in production")
        elif self.api_external_url.scheme != "https":
            problems.append(
                "API_EXTERNAL_URL: expected an https:// URL in production "
                "(Stark Bank delivers webhooks only over https)"
            )
        if self.redis_url is None:
            problems.append(
                "REDIS_URL: missing; expected the redis:// or rediss:// URL of a persistent "
                "Redis in production (the embedded Valkey keeps no data and has no password)"
            )
        if self.stark_workspace_id is None:
            problems.append(
                "STARK_WORKSPACE_ID: missing; expected our Stark Bank workspace id (digits) in "
                "production: Stark Bank's web banking shows it, and `starkrelay doctor` prints "
                "the id Stark Bank reports for these credentials"
            )
        return problems

    # --- derived values ---------------------------------------------------------------------
    @property
    def docs_enabled(self) -> bool:
        """Whether /docs, /redoc and /openapi.json are served: ``API_DOCS_ENABLED``, else on
        in development and off in production."""
        if self.api_docs_enabled is not None:
            return self.api_docs_enabled
        return self.environment == "development"

    @property
    def private_key_pem(self) -> SecretStr:
        """The project's secp256k1 private key, PEM, from whichever variable provided it."""
        return self._private_key_pem

    @property
    def webhook_url(self) -> str | None:
        """``API_EXTERNAL_URL`` + the fixed webhook path, or None when no public URL is set."""
        if self.api_external_url is None:
            return None
        return str(self.api_external_url).rstrip("/") + WEBHOOK_PATH

    @property
    def campaign_slot_count(self) -> int | None:
        """Slots per campaign (8 for 24 h / 3 h); None when the campaign never ends."""
        if self.campaign_duration_seconds == 0:
            return None
        return int(self.campaign_duration_seconds / self.campaign_interval_seconds + 1e-9)


def _describe(error: Any, model: type[BaseSettings]) -> str:
    """One clause for one validation error, naming the variable; never the input value."""
    loc = [str(part) for part in error.get("loc", ())]
    message = str(error.get("msg", "invalid"))
    message = message.removeprefix("Value error, ")
    if not loc:
        return message
    name = loc[0].upper()
    field = model.model_fields.get(loc[0])
    if error.get("type") == "missing":
        what = field.description if field is not None and field.description else "a value"
        return f"{name}: missing; expected {what}"
    return f"{name}: {message}"


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the configuration, or raise ``SettingsError`` (one line, no secrets).

    ``overrides`` take precedence over the environment (used by the CLI and tests).
    """
    try:
        return Settings(**overrides)
    except ValidationError as error:
        clauses = [_describe(item, Settings) for item in error.errors(include_input=False)]
        raise SettingsError("invalid settings: " + "; ".join(clauses)) from None
