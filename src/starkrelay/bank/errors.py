"""Errors the bank gateway raises. Callers never see ``starkbank`` exceptions.

- ``BankInputError``: Stark Bank refused the request (HTTP 400). Not retried; ``errors`` keeps
  the provider's ``(code, message)`` list in order, so a batch caller can tell which item failed
  (``item_index`` reads the position from the message when the provider names one).
- ``BankUnavailableError``: a transient failure (5xx, connection, timeout) that outlasted the
  retry deadline. Safe to retry later; the request may or may not have taken effect.
- ``BankError``: anything else (an unexpected status, a malformed response).
"""

from __future__ import annotations

import re

from starkrelay.bank.models import ProviderError

_POSITION = re.compile(r"(?:element|item|index|position|\[)\s*#?\s*(\d+)", re.IGNORECASE)


class BankError(Exception):
    """A Stark Bank call failed; ``operation`` names the gateway function."""

    def __init__(self, operation: str, message: str) -> None:
        super().__init__(f"{operation}: {message}")
        self.operation = operation


class BankUnavailableError(BankError):
    """Transient failures until the retry deadline; ``kind`` is the last one seen
    (``throttled``, ``server_error``, ``timeout``, ``connection``). Never a verdict on the
    items of the call: nothing is dead-lettered or counted against a forward for it.
    ``retry_after``: seconds Stark Bank asked us to wait (its ``Retry-After``), if it did."""

    def __init__(
        self, operation: str, kind: str, message: str, retry_after: float | None = None
    ) -> None:
        super().__init__(operation, f"Stark Bank unavailable ({kind}): {message}")
        self.kind = kind
        self.retry_after = retry_after


class BankInputError(BankError):
    """Stark Bank rejected the input (HTTP 400) with one or more ``ProviderError``."""

    def __init__(self, operation: str, errors: list[ProviderError]) -> None:
        summary = "; ".join(f"{error.code}: {error.message}" for error in errors[:5])
        if len(errors) > 5:
            summary += f"; and {len(errors) - 5} more"
        super().__init__(operation, f"rejected by Stark Bank: {summary}")
        self.errors = errors

    @property
    def codes(self) -> list[str]:
        """The provider's error codes, in order."""
        return [error.code for error in self.errors]

    def item_index(self, error: ProviderError) -> int | None:
        """The batch position an error names (e.g. "Element 3: ..."), or None if it names none."""
        match = _POSITION.search(error.message)
        return int(match.group(1)) if match else None
