"""The one retry policy of every call that may fail for a while (Stark Bank's, Redis's at
start): how long to keep trying within one call, and how long a caller that never gives up
waits between rounds. ``tenacity`` runs the attempts (``bank.calls``, ``core.supervision``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starkrelay.core.settings import Settings


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for transient failures: first wait ``initial``, doubling up to ``max_wait``,
    never starting an attempt after ``deadline`` seconds from the first one. Past the
    deadline, callers that must keep trying (the forwarding worker) wait ``backoff``."""

    deadline: float
    max_wait: float
    initial: float = 0.2
    backoff_cap: float = 300.0
    """The longest wait between two rounds of a caller that keeps trying (``backoff``)."""

    @classmethod
    def startup(cls, settings: Settings) -> RetryPolicy:
        """A start-up step's (``STARTUP_RETRY_*``): waits from half a second at most."""
        max_wait = settings.startup_retry_max_wait_seconds
        return cls(
            deadline=settings.startup_retry_deadline_seconds,
            max_wait=max_wait,
            initial=min(0.5, max_wait),
        )

    @classmethod
    def off(cls) -> RetryPolicy:
        """A single attempt: transient failures surface at once as ``BankUnavailableError``."""
        return cls(deadline=0.0, max_wait=0.0, initial=0.0, backoff_cap=0.0)

    def backoff(self, failures: int, retry_after: float | None = None) -> float:
        """How long a caller that keeps trying waits after `failures` failed rounds in a row:
        doubling from ``initial``, with up to 50 % jitter, at least ``retry_after`` when Stark
        Bank sent one, at most ``backoff_cap``."""
        wait: float = (self.initial or 0.05) * 2.0 ** min(failures, 20)
        wait *= 1 + random.random() / 2  # jitter, not security
        return min(self.backoff_cap, max(wait, retry_after or 0.0))
