"""Telling a start-up check's failure that will never heal from one worth retrying.

``credentials_refusal(error, settings)`` is None for a transient failure (Stark Bank
unreachable, 5xx, timeout: retry), else ONE line for the operator naming the variables to fix
(``STARK_PROJECT_ID``, ``STARK_PRIVATE_KEY``, ...). The line never contains a secret: only
the provider's error codes and variable names. After start-up, ``stop_if_credentials_refused``
raises ``CredentialsRefused`` (the process exits with status 2) for the same refusal.
"""

from __future__ import annotations

import structlog

from starkrelay.bank.errors import BankError, BankInputError, BankUnavailableError
from starkrelay.core.settings import Settings
from starkrelay.core.supervision import StartRefused

log = structlog.get_logger("starkrelay.bank")

CREDENTIAL_CODES = frozenset(
    {
        "invalidAccessId",
        "invalidCredentials",
        "invalidSignature",
        "invalidAccessSignature",
        "invalidProject",
        "unauthorized",
    }
)
"""Error codes Stark Bank (and starksandbox) give a request whose project or signature it
does not accept."""

CLOCK_CODES = frozenset({"invalidAccessTime", "expiredAccessTime"})
"""Error codes for a request signed at a time too far from Stark Bank's."""


def credentials_refusal(error: BankError, settings: Settings) -> str | None:
    """None if ``error`` is transient; else one line saying what to fix."""
    if isinstance(error, BankUnavailableError):
        return None
    where = f"STARK_ENVIRONMENT={settings.stark_environment}"
    if settings.stark_api_url is not None:
        where += ", STARK_API_URL"
    if isinstance(error, BankInputError):
        codes = sorted(set(error.codes))
        shown = ", ".join(codes)
        if CREDENTIAL_CODES.intersection(codes):
            return (
                f"Stark Bank refused the credentials ({shown}): check STARK_PROJECT_ID and "
                "STARK_PRIVATE_KEY (the project's id, and the private key whose public key is "
                f"registered with that project in {where})"
            )
        if CLOCK_CODES.intersection(codes):
            return (
                f"Stark Bank refused the request time ({shown}): this machine's clock is "
                "wrong; synchronise it (NTP) and start again"
            )
        return (
            f"Stark Bank refused the start-up check ({shown}): check STARK_PROJECT_ID, "
            f"STARK_PRIVATE_KEY and {where}"
        )
    return f"Stark Bank answered the start-up check unexpectedly ({error}): check {where}"


class CredentialsRefused(StartRefused):
    """Stark Bank refused our credentials (or our clock) while forwarding: nothing about any
    item, and nothing a retry fixes. The entries stay pending (never dead-lettered for it) and
    the process exits with status 2, so the orchestrator restarts it and the start-up check
    holds it until the credentials are fixed."""


def stop_if_credentials_refused(error: BankError) -> None:
    """Raise ``CredentialsRefused`` when `error` is Stark Bank refusing our credentials or
    our clock; return for any other error."""
    if not isinstance(error, BankInputError):
        return
    codes = sorted((CREDENTIAL_CODES | CLOCK_CODES).intersection(error.codes))
    if codes:
        log.error("forwarding.credentials.refused", codes=codes)
        raise CredentialsRefused(
            f"Stark Bank refused the credentials while forwarding ({', '.join(codes)}): "
            "check STARK_PROJECT_ID, STARK_PRIVATE_KEY and this machine's clock; nothing was "
            "sent and the forwards stay queued"
        ) from error
