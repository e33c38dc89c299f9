"""Telling a start-up check's failure that will never heal from one worth retrying.

``credentials_refusal(error, settings)`` is None for a transient failure (Stark Bank
unreachable, 5xx, timeout: retry), else ONE line for the operator naming the variables to fix
(``STARK_PROJECT_ID``, ``STARK_PRIVATE_KEY``, ...). The line never contains a secret: only
the provider's error codes and variable names.
"""

from __future__ import annotations

from starkrelay.bank.errors import BankError, BankInputError, BankUnavailableError
from starkrelay.core.settings import Settings

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
