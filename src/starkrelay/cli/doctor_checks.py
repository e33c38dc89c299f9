"""The doctor's checks of what the settings point at: Redis, Stark Bank, the public URL.

Each reads only (nothing is written to Redis or created at Stark Bank), never raises (a failure
is a ``fail`` result) and says what it found in one line: an unreachable server is named with
the reason (``could not connect (Connection refused)``, ``no answer within 5 s``), never with
a library's exception text. The Redis URL is shown as scheme, host and port only.
"""

from __future__ import annotations

import os
import ssl
from urllib.parse import urlsplit

import anyio
import httpx
from redis.exceptions import AuthenticationError, RedisError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from starkrelay.bank import (
    BankError,
    BankGateway,
    BankInputError,
    BankUnavailableError,
    RetryPolicy,
)
from starkrelay.cli.doctor_report import (
    CheckResult,
    failed,
    first_line,
    passed,
    skipped,
    warned,
)
from starkrelay.core.money import brl
from starkrelay.core.settings import Settings
from starkrelay.core.store import connect_from_settings, server_facts
from starkrelay.webhooks.registration import SUBSCRIPTIONS

MIN_REDIS_VERSION = (6, 2)
"""XAUTOCLAIM (claiming a dead worker's forwards) needs Redis 6.2."""
HEALTH_PATH = "/health"
REDIS_TIMEOUT_SECONDS = 5.0


# --- Redis ------------------------------------------------------------------------------------
def _where(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix:{parts.path}"
    return f"{parts.scheme}://{parts.hostname or '?'}:{parts.port or 6379}"


def _redis_reason(error: Exception, timeout: float) -> str:
    """Why Redis could not be read, in a few words."""
    if isinstance(error, TimeoutError | RedisTimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(error, AuthenticationError):
        return f"refused our credentials ({first_line(error)})"
    cause = error if isinstance(error, OSError) else (error.__cause__ or error.__context__)
    if isinstance(error, RedisConnectionError | OSError) and isinstance(cause, OSError):
        code = cause.errno  # redis-py keeps the socket's error as the context
        reason = os.strerror(code) if code and code > 0 else cause.strerror
        return f"could not connect ({reason or type(cause).__name__})"
    return first_line(error)


async def check_redis(settings: Settings, *, within: float = 10.0) -> list[CheckResult]:
    """Reachable (with our credentials), recent enough, ``noeviction``, persistent."""
    if settings.redis_url is None:
        return [
            failed(
                "redis.reachable",
                "REDIS_URL unset: the service would run a throwaway embedded Valkey",
                "set REDIS_URL to the Redis every replica shares",
            )
        ]
    where = _where(settings.redis_url)
    timeout = min(within, REDIS_TIMEOUT_SECONDS)
    redis = connect_from_settings(settings, timeout=timeout)
    try:
        with anyio.fail_after(within):
            facts = await server_facts(redis)
    except (RedisError, OSError, TimeoutError) as exc:
        return [
            failed(
                "redis.reachable",
                f"{where}: {_redis_reason(exc, timeout)}",
                "check REDIS_URL, REDIS_PASSWORD and that Redis is running",
            )
        ]
    finally:
        await redis.aclose()
    results = [passed("redis.reachable", f"{where} answers")]
    name = f"{facts.server} {facts.version}"
    if facts.version_tuple >= MIN_REDIS_VERSION:
        results.append(passed("redis.version", name))
    else:
        results.append(
            failed(
                "redis.version",
                f"{name}; expected Redis 6.2 or newer",
                "upgrade Redis (XAUTOCLAIM is needed to take over a dead worker's work)",
            )
        )
    if facts.maxmemory_policy == "noeviction":
        results.append(passed("redis.eviction", "maxmemory-policy noeviction"))
    else:
        results.append(
            failed(
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
        return passed("redis.persistence", "AOF on")
    if save:
        return passed("redis.persistence", f"RDB save points: {save}")
    if save is None:
        return warned(
            "redis.persistence",
            "AOF off and CONFIG refused (managed Redis?): save points unknown",
            "check snapshots or replication in your provider's console",
        )
    return failed(
        "redis.persistence",
        "AOF off and no RDB save points: a restart loses every claim and queued forward",
        "turn on appendonly yes (or save points); reconciliation only repairs after the fact",
    )


# --- Stark Bank -------------------------------------------------------------------------------
_UNAVAILABLE = {
    "connection": "could not connect",
    "timeout": "no answer in time",
    "server_error": "answered with server errors (HTTP 5xx)",
    "throttled": "throttled every call (HTTP 429)",
}
"""``BankUnavailableError.kind`` in words."""


def key_variable(settings: Settings) -> str:
    """The variable the private key was read from, in the precedence ``settings`` reads
    them: ``STARK_PRIVATE_KEY``, else ``STARK_PRIVATE_KEY_FILE``, else the older pair."""
    key = settings.stark_private_key
    if key is not None and key.get_secret_value():
        return "STARK_PRIVATE_KEY"
    if settings.stark_private_key_file is not None:
        return "STARK_PRIVATE_KEY_FILE"
    return "STARKBANK_EC_PRIVATE_KEY"


def _refusal(code: str, settings: Settings) -> tuple[str, str]:
    """What a refused credentials code says is wrong, and what to do about it."""
    key = key_variable(settings)
    if key == "STARK_PRIVATE_KEY_FILE":
        key = f"the key in STARK_PRIVATE_KEY_FILE ({settings.stark_private_key_file})"
    where = f"STARK_ENVIRONMENT={settings.stark_environment}"
    if code == "invalidAccessId":
        return (
            "STARK_PROJECT_ID names no project Stark Bank knows",
            f"check STARK_PROJECT_ID: the id of a project in {where}",
        )
    if code in ("invalidCredentials", "invalidSignature", "invalidAccessSignature"):
        return (
            f"{key} does not match the project's public key",
            f"give {key_variable(settings)} the private key whose public key is registered "
            f"with project {settings.stark_project_id} ({where})",
        )
    if code in ("invalidAccessTime", "expiredAccessTime"):
        return "the system clock is too far from Stark Bank's", "synchronise the clock (NTP)"
    return (
        f"STARK_PROJECT_ID or {key} refused",
        f"check STARK_PROJECT_ID and {key_variable(settings)} for {where}",
    )


def doctor_gateway(settings: Settings) -> BankGateway:
    """A gateway that gives up within a few seconds (a preflight must not hang)."""
    policy = RetryPolicy(
        deadline=min(settings.bank_retry_deadline_seconds, 5.0),
        max_wait=min(settings.bank_retry_max_wait_seconds, 1.0),
        initial=min(0.2, settings.bank_retry_max_wait_seconds),
    )
    return BankGateway(settings, policy=policy)


def _bank_failure(
    name: str, error: BankError, settings: Settings, bank: BankGateway
) -> CheckResult:
    """One line for a Stark Bank call that did not get an answer we could use."""
    if isinstance(error, BankUnavailableError):
        url = settings.stark_api_url
        where = str(url).rstrip("/") if url else f"Stark Bank ({settings.stark_environment})"
        reason = _UNAVAILABLE.get(error.kind, error.kind)
        if bank.policy.deadline:
            reason += f" (gave up after {bank.policy.deadline:g} s of retries)"
        return failed(
            name,
            f"{where}: {reason}",
            "check the network to Stark Bank (and STARK_API_URL if set), then run doctor again",
        )
    return failed(name, first_line(error), "run doctor again; report it if it persists")


async def check_stark_bank(
    settings: Settings, bank: BankGateway
) -> tuple[list[CheckResult], str | None]:
    """Credentials (one authenticated call), balance, workspace, our webhook; and the
    workspace id Stark Bank reports (None when it could not be read)."""
    try:
        balance = await bank.get_balance()
    except BankInputError as exc:
        code = exc.codes[0] if exc.codes else ""
        problem, fix = _refusal(code, settings)
        refused = f"Stark Bank refused the credentials ({code}): {problem}"
        return [failed("stark.credentials", refused, fix)], None
    except BankError as exc:
        return [_bank_failure("stark.credentials", exc, settings, bank)], None
    results = [
        passed(
            "stark.credentials",
            f"project {settings.stark_project_id} accepted ({settings.stark_environment})",
        ),
        passed("stark.balance", f"{brl(balance.amount)} ({balance.currency})"),
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
        return _bank_failure("stark.workspace", exc, settings, bank), None
    if seen is None:
        found = "no event yet to read the workspace from"
        where = "Stark Bank's web banking shows the workspace id"
        if expected is None and production:
            unset = f"STARK_WORKSPACE_ID unset, {found}"
            return failed("stark.workspace", unset, f"set it: {where}"), None
        return skipped("stark.workspace", f"{found} ({where})"), None
    reported = f"Stark Bank reports workspace {seen} for these credentials"
    if seen == expected:
        return passed("stark.workspace", f"{reported}, as STARK_WORKSPACE_ID says"), seen
    fix = f"set STARK_WORKSPACE_ID={seen}"
    if expected is not None:
        mismatch = f"STARK_WORKSPACE_ID is {expected}: every webhook would be refused (403)"
        return failed("stark.workspace", f"{reported}; {mismatch}", fix), seen
    if production:
        unset = "STARK_WORKSPACE_ID unset: production refuses to start without it"
        return failed("stark.workspace", f"{reported}; {unset}", fix), seen
    unset = "STARK_WORKSPACE_ID unset: learned at run time (until then any workspace's events pass)"
    fix += " (required with ENVIRONMENT=production)"
    return warned("stark.workspace", f"{reported}; {unset}", fix), seen


async def _check_webhook(settings: Settings, bank: BankGateway) -> CheckResult:
    url = settings.webhook_url
    if url is None:
        return failed(
            "stark.webhook",
            "API_EXTERNAL_URL unset: no webhook URL",
            "set API_EXTERNAL_URL to the public https URL",
        )
    try:
        hooks = [hook for hook in await bank.list_webhooks() if hook.url == url]
    except BankError as exc:
        return _bank_failure("stark.webhook", exc, settings, bank)
    if not hooks:
        return failed(
            "stark.webhook",
            f"no webhook registered for {url}",
            "run `starkrelay webhook ensure` (the service also registers it when it starts)",
        )
    for hook in hooks:
        missing = [sub for sub in SUBSCRIPTIONS if sub not in hook.subscriptions]
        if not missing:
            return passed("stark.webhook", f"{hook.id} -> {url} ({', '.join(hook.subscriptions)})")
    return failed(
        "stark.webhook",
        f"webhook for {url} lacks subscription(s) {', '.join(missing)}",
        "run `starkrelay webhook ensure` (it replaces an incomplete webhook)",
    )


# --- public URL -------------------------------------------------------------------------------
def check_https(settings: Settings) -> CheckResult:
    url = settings.api_external_url
    if url is None:
        return failed(
            "url.https",
            "API_EXTERNAL_URL unset",
            "set it to the public https URL Stark Bank will call",
        )
    if url.scheme != "https":
        return failed(
            "url.https",
            f"{url} is {url.scheme}; Stark Bank must reach us over https",
            "put TLS in front (load balancer) and use its https URL",
        )
    return passed("url.https", str(url))


async def check_url_answers(
    settings: Settings, *, verify: ssl.SSLContext | bool = True, within: float = 10.0
) -> CheckResult:
    """GET ``API_EXTERNAL_URL`` + ``/health`` as an outsider would (no redirects followed)."""
    if settings.api_external_url is None:
        return skipped("url.reachable", "API_EXTERNAL_URL unset")
    target = str(settings.api_external_url).rstrip("/") + HEALTH_PATH
    try:
        async with httpx.AsyncClient(verify=verify, timeout=within, trust_env=False) as client:
            response = await client.get(target)
    except httpx.HTTPError as exc:
        return failed(
            "url.reachable",
            f"GET {target}: {type(exc).__name__}: {first_line(exc)}",
            "check DNS, the load balancer and that the service runs",
        )
    if response.status_code != 200:
        return failed(
            "url.reachable",
            f"GET {target} answered {response.status_code}",
            "check the load balancer's target and the service's logs",
        )
    return passed("url.reachable", f"GET {target} answered 200")
