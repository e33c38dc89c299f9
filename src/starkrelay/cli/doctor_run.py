"""``starkrelay doctor``: the going-live preflight, one small check per concern.

``run_doctor`` runs the checks in the order a person fixes things and returns a
``DoctorReport`` (``cli.doctor_report``) whose ``ok`` is True exactly when no check failed,
with the workspace Stark Bank reports for these credentials and the destination account.
The settings come first, and every wrong or missing variable is named in the same run (see
``check_settings``); without valid settings nothing else is checked, except that a missing
``STARK_WORKSPACE_ID`` alone lets the rest run, so the id can be read. Redis, Stark Bank and
the public URL are checked by ``cli.doctor_checks``.

What a caller may rely on: no check raises (each failure becomes a ``fail`` result), nothing
is written anywhere (Redis and Stark Bank are only read), and no result carries a secret (the
Redis URL is shown as host and port only).
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Callable
from typing import Any, cast

from starkrelay.bank import BankGateway
from starkrelay.cli.doctor_checks import (
    check_https,
    check_redis,
    check_stark_bank,
    check_url_answers,
    doctor_gateway,
)
from starkrelay.cli.doctor_report import (
    CheckResult,
    Destination,
    DoctorReport,
    Status,
    failed,
    passed,
    skipped,
    warned,
)
from starkrelay.core.settings import Settings, SettingsError, load_settings

__all__ = ["CheckResult", "Destination", "DoctorReport", "Status", "check_settings", "run_doctor"]

_CLAUSE = re.compile(r";\s+(?=[A-Z][A-Z0-9_]*: )")
_STAND_INS: dict[str, Any] = {"stark_project_id": "0", "stark_workspace_id": "0"}
"""Valid values for settings without a usable default, for the second reading (below)."""
_KEY_VARIABLES = frozenset(
    {"STARK_PRIVATE_KEY", "STARK_PRIVATE_KEY_FILE", "STARKBANK_EC_PRIVATE_KEY"}
)
"""Checked only across variables (whichever gives the key), so never stood in for: without
it, another would be named missing."""


def check_settings(load: Callable[..., Settings]) -> tuple[Settings | None, list[CheckResult]]:
    """Load the settings (``load`` takes ``load_settings``'s overrides): one ``fail`` per
    wrong or missing variable, all of them in one run; or a pass and remarks.

    The settings are validated in two rounds: each variable on its own, then the checks
    across variables (production's required ones, min <= max pairs, the private key), which
    only run once every variable passed its own. So when some failed, they are read again
    with valid stand-ins (their defaults) in their place, which names the rest.

    A missing ``STARK_WORKSPACE_ID`` (production requires it), when nothing else is wrong,
    fails here but still returns the settings, without it: the other checks run, and
    ``stark.workspace`` shows the id Stark Bank reports, to be copied into the setting."""
    try:
        settings = load()
        results = [passed("settings", "every setting is valid")]
    except SettingsError as error:
        problems = _problems(error)
        stand_in, more = _with_stand_ins(load, problems)
        problems |= more
        results = [_failure(variable, problem) for variable, problem in problems.items()]
        only_workspace_missing = list(problems) == ["STARK_WORKSPACE_ID"] and problems[
            "STARK_WORKSPACE_ID"
        ].startswith("missing")
        if stand_in is None or not only_workspace_missing:
            return None, results
        settings = stand_in.model_copy(update={"stark_workspace_id": None})
    if settings.environment != "production":
        results.append(
            warned(
                "settings.ENVIRONMENT",
                f"{settings.environment}: production guards are off",
                "set ENVIRONMENT=production for the live service",
            )
        )
    if settings.admin_token is None:
        results.append(
            warned(
                "settings.ADMIN_TOKEN",
                "unset: /api/v1/status and /api/v1/admin/reconcile are off",
                "set a random token of 16+ characters to use them",
            )
        )
    return settings, results


def _problems(error: SettingsError) -> dict[str, str]:
    """Variable -> what is wrong with it, in the order ``load_settings`` named them."""
    text = str(error).removeprefix("invalid settings: ")
    problems: dict[str, str] = {}
    for clause in _CLAUSE.split(text):
        variable, _, problem = clause.partition(": ")
        problems.setdefault(variable, problem or clause)
    return problems


def _with_stand_ins(
    load: Callable[..., Settings], problems: dict[str, str]
) -> tuple[Settings | None, dict[str, str]]:
    """The settings read again with a valid stand-in for each variable in ``problems``:
    the settings if that passes, and the problems it names about other variables."""
    overrides: dict[str, Any] = {}
    for variable in problems.keys() - _KEY_VARIABLES:
        name = variable.lower()
        field = Settings.model_fields.get(name)
        if name in _STAND_INS:
            overrides[name] = _STAND_INS[name]
        elif field is not None and not field.is_required():
            overrides[name] = field.get_default(call_default_factory=True)
    try:
        return load(**overrides), {}
    except SettingsError as error:
        more = _problems(error)
        return None, {variable: more[variable] for variable in more if variable not in problems}


def _failure(variable: str, problem: str) -> CheckResult:
    fix = f"set {variable} correctly (see docs/settings.md)"
    if variable == "STARK_WORKSPACE_ID":
        fix = "set it to the id Stark Bank reports (stark.workspace, below)"
    return failed(f"settings.{variable}", problem, fix)


def check_forward_limits(settings: Settings) -> CheckResult:
    """The outflow limits: in production, a warning when none is set (any amount may leave
    without a person seeing it); a pass naming the ones set."""
    limits = {
        "FORWARD_MAX_AMOUNT": settings.forward_max_amount,
        "FORWARD_DAILY_LIMIT": settings.forward_daily_limit,
        "FORWARD_HOURLY_COUNT": settings.forward_hourly_count,
    }
    named = [f"{name}={value}" for name, value in limits.items() if value]
    if named:
        return passed("settings.forward_limits", ", ".join(named))
    if settings.environment != "production":
        return skipped("settings.forward_limits", "no outflow limit set (development)")
    return warned(
        "settings.forward_limits",
        "no outflow limit set: any amount may leave without a person seeing it",
        "set FORWARD_MAX_AMOUNT and FORWARD_DAILY_LIMIT (cents); forwards past them are held "
        "for approval",
    )


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
        report.results.append(skipped("redis", "not checked: fix the settings first"))
        report.results.append(skipped("stark", "not checked: fix the settings first"))
        return report
    report.destination = cast(Destination, Destination.from_settings(settings))  # cls(...)
    report.results.append(check_forward_limits(settings))
    report.results += await check_redis(settings)
    stark, report.workspace_id = await check_stark_bank(settings, bank(settings))
    report.results += stark
    report.results.append(check_https(settings))
    if check_url:
        report.results.append(await check_url_answers(settings, verify=verify))
    else:
        report.results.append(skipped("url.reachable", "not asked (--check-url)"))
    return report
