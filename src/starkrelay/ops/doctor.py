"""``starkrelay doctor``: the going-live preflight, one small check per concern.

Each check returns ``CheckResult``s (name, status, what was found, what to do). ``run_doctor``
runs them in order (settings first: without valid settings nothing else can be checked, but a
missing ``STARK_WORKSPACE_ID`` alone lets the rest run, so the id can be read) and returns a
``DoctorReport`` whose ``ok`` is True exactly when no check failed, and whose
``workspace_id`` is the workspace Stark Bank reports for these credentials. ``warn`` is a
pass with a remark (an optional setting unset, a fact that could not be read on managed
Redis); ``skip`` means the check could not run or was not asked for.

What a caller may rely on: no check raises (each failure becomes a ``fail`` result), nothing
is written anywhere (Redis and Stark Bank are only read), and no result carries a secret (the
Redis URL is shown as host and port only).
"""

from __future__ import annotations

import enum
import re
import ssl
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx
from redis.exceptions import RedisError

from starkrelay.bank import (
    BankError,
    BankGateway,
    BankInputError,
    BankUnavailableError,
    RetryPolicy,
)
from starkrelay.core.settings import Settings, SettingsError, load_settings
from starkrelay.core.store import Redis, connect, server_facts
from starkrelay.webhooks.registration import SUBSCRIPTIONS

MIN_REDIS_VERSION = (6, 2)
"""XAUTOCLAIM (claiming a dead worker's forwards) needs Redis 6.2."""
HEALTH_PATH = "/health"
_CLAUSE = re.compile(r";\s+(?=[A-Z][A-Z0-9_]*: )")


class Status(enum.StrEnum):
    PASSED = "pass"
    WARNED = "warn"
    FAILED = "fail"
    SKIPPED = "skip"


@dataclass(frozen=True)
class CheckResult:
    name: str
    """Dotted, stable: ``settings``, ``redis.eviction``, ``stark.webhook``, ``url.https``..."""
    status: Status
    detail: str
    fix: str = ""


@dataclass
class DoctorReport:
    results: list[CheckResult] = field(default_factory=list)
    workspace_id: str | None = None
    """The workspace id Stark Bank reports for these credentials (the value of
    ``STARK_WORKSPACE_ID``), or None when it could not be read."""

    @property
    def ok(self) -> bool:
        """True when no check failed (passes, warnings and skips only)."""
        return all(result.status is not Status.FAILED for result in self.results)

    @property
    def failed(self) -> list[CheckResult]:
        return [result for result in self.results if result.status is Status.FAILED]

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "workspace_id": self.workspace_id,
            "checks": [asdict(result) for result in self.results],
        }


def _passed(name: str, detail: str) -> CheckResult:
    return CheckResult(name, Status.PASSED, detail)


def _failed(name: str, detail: str, fix: str = "") -> CheckResult:
    return CheckResult(name, Status.FAILED, detail, fix)


def _warned(name: str, detail: str, fix: str = "") -> CheckResult:
    return CheckResult(name, Status.WARNED, detail, fix)


def _skipped(name: str, detail: str) -> CheckResult:
    return CheckResult(name, Status.SKIPPED, detail)


# --- settings ---------------------------------------------------------------------------------
_WORKSPACE_STAND_IN = "0"
"""Stands in for a missing ``STARK_WORKSPACE_ID`` while the doctor reads the real one."""


def check_settings(load: Callable[..., Settings]) -> tuple[Settings | None, list[CheckResult]]:
    """Load the settings (``load`` takes ``load_settings``'s overrides): one ``fail`` per
    wrong variable, or a pass and remarks.

    A missing ``STARK_WORKSPACE_ID`` (production requires it), when nothing else is wrong,
    fails here but still returns the settings, without it: the other checks run, and
    ``stark.workspace`` shows the id Stark Bank reports, to be copied into the setting."""
    try:
        settings = load()
        results = [_passed("settings", "every setting is valid")]
    except SettingsError as error:
        results = _settings_failures(error)
        only_workspace_missing = [(r.name, r.detail.startswith("missing")) for r in results] == [
            ("settings.STARK_WORKSPACE_ID", True)
        ]
        stand_in = _without_workspace_id(load) if only_workspace_missing else None
        if stand_in is None:
            return None, results
        settings = stand_in
    if settings.environment != "production":
        results.append(
            _warned(
                "settings.ENVIRONMENT",
                f"{settings.environment}: production guards are off",
                "set ENVIRONMENT=production for the live service",
            )
        )
    if settings.admin_token is None:
        results.append(
            _warned(
                "settings.ADMIN_TOKEN",
                "unset: /api/v1/status and /api/v1/admin/reconcile are off",
                "set a random token of 16+ characters to use them",
            )
        )
    return settings, results


def check_forward_limits(settings: Settings) -> CheckResult:
    """The outflow limits: in production, a warning when none is set (any amount may leave
    without a person seeing it); a pass naming the ones set."""
    limits = {
        "FORWARD_MAX_AMOUNT": settings.forward_max_amount,
        "FORWARD_DAILY_LIMIT": settings.forward_daily_limit,
        "FORWARD_HOURLY_COUNT": settings.forward_hourly_count,
    }
    set_ = [f"{name}={value}" for name, value in limits.items() if value]
    if set_:
        return _passed("settings.forward_limits", ", ".join(set_))
    if settings.environment != "production":
        return _skipped("settings.forward_limits", "no outflow limit set (development)")
    return _warned(
        "settings.forward_limits",
        "no outflow limit set: any amount may leave without a person seeing it",
        "set FORWARD_MAX_AMOUNT and FORWARD_DAILY_LIMIT (cents); forwards past them are held "
        "for approval",
    )


def _settings_failures(error: SettingsError) -> list[CheckResult]:
    text = str(error).removeprefix("invalid settings: ")
    results = []
    for clause in _CLAUSE.split(text):
        variable, _, problem = clause.partition(": ")
        fix = f"set {variable} correctly (see README, Settings)"
        if variable == "STARK_WORKSPACE_ID":
            fix = "set it to the id Stark Bank reports (stark.workspace, below)"
        results.append(_failed(f"settings.{variable}", problem or clause, fix))
    return results


def _without_workspace_id(load: Callable[..., Settings]) -> Settings | None:
    """The settings validated with a stand-in workspace id, then without it."""
    try:
        settings = load(stark_workspace_id=_WORKSPACE_STAND_IN)
    except SettingsError:
        return None
    return settings.model_copy(update={"stark_workspace_id": None})


# --- Redis ------------------------------------------------------------------------------------
def _where(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix:{parts.path}"
    return f"{parts.scheme}://{parts.hostname or '?'}:{parts.port or 6379}"


async def check_redis(settings: Settings, *, within: float = 10.0) -> list[CheckResult]:
    """Reachable (with our credentials), recent enough, ``noeviction``, persistent."""
    if settings.redis_url is None:
        return [
            _failed(
                "redis.reachable",
                "REDIS_URL unset: the service would run a throwaway embedded Valkey",
                "set REDIS_URL to the Redis every replica shares",
            )
        ]
    where = _where(settings.redis_url)
    password = settings.redis_password
    redis: Redis = connect(
        settings.redis_url,
        timeout=min(within, 5.0),
        password=password.get_secret_value() if password is not None else None,
    )
    try:
        with anyio.fail_after(within):
            facts = await server_facts(redis)
    except (RedisError, OSError, TimeoutError) as exc:
        reason = str(exc) or type(exc).__name__
        return [
            _failed(
                "redis.reachable",
                f"{where}: {reason[:200]}",
                "check REDIS_URL, REDIS_PASSWORD and that Redis is running",
            )
        ]
    finally:
        await redis.aclose()
    results = [_passed("redis.reachable", f"{where} answers")]
    name = f"{facts.server} {facts.version}"
    if facts.version_tuple >= MIN_REDIS_VERSION:
        results.append(_passed("redis.version", name))
    else:
        results.append(
            _failed(
                "redis.version",
                f"{name}; expected Redis 6.2 or newer",
                "upgrade Redis (XAUTOCLAIM is needed to take over a dead worker's work)",
            )
        )
    if facts.maxmemory_policy == "noeviction":
        results.append(_passed("redis.eviction", "maxmemory-policy noeviction"))
    else:
        results.append(
            _failed(
                "redis.eviction",
                f"maxmemory-policy {facts.maxmemory_policy}; expected noeviction "
                "(an evicted claim or de-duplication key could let money move twice)",
                "set maxmemory-policy noeviction (redis.conf, or the parameter group)",
            )
        )
    results.append(_persistence(facts.aof_enabled, facts.rdb_save_points))
    return results


def _persistence(aof: bool, save: str | None) -> CheckResult:
    if aof:
        return _passed("redis.persistence", "AOF on")
    if save:
        return _passed("redis.persistence", f"RDB save points: {save}")
    if save is None:
        return _warned(
            "redis.persistence",
            "AOF off and CONFIG refused (managed Redis?): save points unknown",
            "check snapshots or replication in your provider's console",
        )
    return _failed(
        "redis.persistence",
        "AOF off and no RDB save points: a restart loses every claim and queued forward",
        "turn on appendonly yes (or save points); reconciliation only repairs after the fact",
    )


# --- Stark Bank -------------------------------------------------------------------------------
_REFUSED = {
    "invalidAccessId": ("STARK_PROJECT_ID", "names no project Stark Bank knows"),
    "invalidCredentials": ("STARK_PRIVATE_KEY", "does not match the project's public key"),
    "invalidSignature": ("STARK_PRIVATE_KEY", "does not match the project's public key"),
    "invalidAccessTime": ("the system clock", "is too far from Stark Bank's"),
}


def doctor_gateway(settings: Settings) -> BankGateway:
    """A gateway that gives up within a few seconds (a preflight must not hang)."""
    policy = RetryPolicy(
        deadline=min(settings.bank_retry_deadline_seconds, 5.0),
        max_wait=min(settings.bank_retry_max_wait_seconds, 1.0),
        initial=min(0.2, settings.bank_retry_max_wait_seconds),
    )
    return BankGateway(settings, policy=policy)


async def check_stark_bank(
    settings: Settings, bank: BankGateway
) -> tuple[list[CheckResult], str | None]:
    """Credentials (one authenticated call), balance, workspace, our webhook; and the
    workspace id Stark Bank reports (None when it could not be read)."""
    try:
        balance = await bank.get_balance()
    except BankInputError as exc:
        code = exc.codes[0] if exc.codes else ""
        variable, problem = _REFUSED.get(code, ("STARK_PROJECT_ID / STARK_PRIVATE_KEY", "refused"))
        return [
            _failed(
                "stark.credentials",
                f"Stark Bank refused the credentials ({code}): {variable} {problem}",
                f"check {variable} for STARK_ENVIRONMENT={settings.stark_environment}",
            )
        ], None
    except BankError as exc:
        fix = "check the network to Stark Bank, then retry"
        if not isinstance(exc, BankUnavailableError):
            fix = "retry; report it if it persists"
        return [_failed("stark.credentials", str(exc)[:300], fix)], None
    results = [
        _passed(
            "stark.credentials",
            f"project {settings.stark_project_id} accepted ({settings.stark_environment})",
        ),
        _passed("stark.balance", f"R$ {balance.amount / 100:,.2f} ({balance.currency})"),
    ]
    workspace, reported = await _check_workspace(settings, bank)
    results.append(workspace)
    results.append(await _check_webhook(settings, bank))
    return results, reported


async def _check_workspace(settings: Settings, bank: BankGateway) -> tuple[CheckResult, str | None]:
    """The workspace Stark Bank reports for our credentials (the newest event names it, the
    same read the worker learns it from), against ``STARK_WORKSPACE_ID``: unset fails in
    production (it refuses to start), warns in development (learned at run time)."""
    expected, production = settings.stark_workspace_id, settings.environment == "production"
    try:
        seen = await bank.workspace_id()
    except BankError as exc:
        return _failed("stark.workspace", str(exc)[:300], "retry"), None
    if seen is None:
        found = "no event yet to read the workspace from"
        where = "Stark Bank's web banking shows the workspace id"
        if expected is None and production:
            unset = f"STARK_WORKSPACE_ID unset, {found}"
            return _failed("stark.workspace", unset, f"set it: {where}"), None
        return _skipped("stark.workspace", f"{found} ({where})"), None
    reported = f"Stark Bank reports workspace {seen} for these credentials"
    if seen == expected:
        return _passed("stark.workspace", f"{reported}, as STARK_WORKSPACE_ID says"), seen
    fix = f"set STARK_WORKSPACE_ID={seen}"
    if expected is not None:
        mismatch = f"STARK_WORKSPACE_ID is {expected}: every webhook would be refused (403)"
        return _failed("stark.workspace", f"{reported}; {mismatch}", fix), seen
    if production:
        unset = "STARK_WORKSPACE_ID unset: production refuses to start without it"
        return _failed("stark.workspace", f"{reported}; {unset}", fix), seen
    unset = "STARK_WORKSPACE_ID unset: learned at run time (until then any workspace's events pass)"
    fix += " (required with ENVIRONMENT=production)"
    return _warned("stark.workspace", f"{reported}; {unset}", fix), seen


async def _check_webhook(settings: Settings, bank: BankGateway) -> CheckResult:
    url = settings.webhook_url
    if url is None:
        return _failed(
            "stark.webhook",
            "API_EXTERNAL_URL unset: no webhook URL",
            "set API_EXTERNAL_URL to the public https URL",
        )
    try:
        hooks = [hook for hook in await bank.list_webhooks() if hook.url == url]
    except BankError as exc:
        return _failed("stark.webhook", str(exc)[:300], "retry")
    if not hooks:
        return _failed(
            "stark.webhook",
            f"no webhook registered for {url}",
            "run `starkrelay webhook ensure` (the service also registers it when it starts)",
        )
    for hook in hooks:
        missing = [sub for sub in SUBSCRIPTIONS if sub not in hook.subscriptions]
        if not missing:
            return _passed("stark.webhook", f"{hook.id} -> {url} ({', '.join(hook.subscriptions)})")
    return _failed(
        "stark.webhook",
        f"webhook for {url} lacks subscription(s) {', '.join(missing)}",
        "run `starkrelay webhook ensure` (it replaces an incomplete webhook)",
    )


# --- public URL -------------------------------------------------------------------------------
def check_https(settings: Settings) -> CheckResult:
    url = settings.api_external_url
    if url is None:
        return _failed(
            "url.https",
            "API_EXTERNAL_URL unset",
            "set it to the public https URL Stark Bank will call",
        )
    if url.scheme != "https":
        return _failed(
            "url.https",
            f"{url} is {url.scheme}; Stark Bank must reach us over https",
            "put TLS in front (load balancer) and use its https URL",
        )
    return _passed("url.https", str(url))


async def check_url_answers(
    settings: Settings, *, verify: ssl.SSLContext | bool = True, within: float = 10.0
) -> CheckResult:
    """GET ``API_EXTERNAL_URL`` + ``/health`` as an outsider would (no redirects followed)."""
    if settings.api_external_url is None:
        return _skipped("url.reachable", "API_EXTERNAL_URL unset")
    target = str(settings.api_external_url).rstrip("/") + HEALTH_PATH
    try:
        async with httpx.AsyncClient(verify=verify, timeout=within, trust_env=False) as client:
            response = await client.get(target)
    except httpx.HTTPError as exc:
        return _failed(
            "url.reachable",
            f"GET {target}: {type(exc).__name__} {str(exc)[:200]}",
            "check DNS, the load balancer and that the service runs",
        )
    if response.status_code != 200:
        return _failed(
            "url.reachable",
            f"GET {target} answered {response.status_code}",
            "check the load balancer's target and the service's logs",
        )
    return _passed("url.reachable", f"GET {target} answered 200")


# --- all of it --------------------------------------------------------------------------------
async def run_doctor(
    *,
    check_url: bool = False,
    load: Callable[..., Settings] = load_settings,
    bank: Callable[[Settings], BankGateway] = doctor_gateway,
    verify: ssl.SSLContext | bool = True,
) -> DoctorReport:
    """Every check, in the order a person fixes things. ``load`` (taking
    ``load_settings``'s overrides), ``bank`` and ``verify`` (a CA bundle for a private
    certificate) exist for tests and unusual setups."""
    settings, results = check_settings(load)
    report = DoctorReport(results)
    if settings is None:
        report.results.append(_skipped("redis", "not checked: fix the settings first"))
        report.results.append(_skipped("stark", "not checked: fix the settings first"))
        return report
    report.results.append(check_forward_limits(settings))
    report.results += await check_redis(settings)
    stark, report.workspace_id = await check_stark_bank(settings, bank(settings))
    report.results += stark
    report.results.append(check_https(settings))
    if check_url:
        report.results.append(await check_url_answers(settings, verify=verify))
    else:
        report.results.append(_skipped("url.reachable", "not asked (--check-url)"))
    return report
