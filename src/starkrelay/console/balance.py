"""Stark Bank's balance for the money page: read through the gateway, kept a few seconds.

Callers may rely on: at most one balance read per ``BALANCE_CACHE_SECONDS`` per process and
workspace for page loads; ``fresh=True`` (a person asked to read it again) reads again once
the kept reading is ``FRESH_MIN_SECONDS`` old; Stark Bank unavailable gives a reading with
``error`` set and no amount, never an exception.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

import structlog

from starkrelay.bank import BankError, BankGateway

log = structlog.get_logger(__name__)

BALANCE_CACHE_SECONDS = 5.0
FRESH_MIN_SECONDS = 0.25


@dataclass(frozen=True)
class BalanceReading:
    cents: int | None
    currency: str
    read_at: float
    updated: datetime | None = None
    """When Stark Bank says the balance last changed."""
    error: str | None = None


_READINGS: dict[str, BalanceReading] = {}


async def read_balance(bank: BankGateway, cache_key: str, *, fresh: bool = False) -> BalanceReading:
    """The balance, from the kept reading when it is recent enough (see the docstring)."""
    kept = _READINGS.get(cache_key)
    if kept is not None:
        age = time.time() - kept.read_at
        if age < (FRESH_MIN_SECONDS if fresh else BALANCE_CACHE_SECONDS):
            return kept
    try:
        balance = await bank.get_balance()
        reading = BalanceReading(balance.amount, balance.currency, time.time(), balance.updated)
    except BankError as error:
        log.warning("console.balance.unavailable", error=str(error))
        reading = BalanceReading(None, "BRL", time.time(), error=str(error))
    _READINGS[cache_key] = reading
    return reading
