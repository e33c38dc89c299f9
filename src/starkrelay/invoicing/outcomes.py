"""What happened to each campaign slot, as kept in Redis (``campaign_slots(<id>)``).

A slot's outcome is ``issued`` (with its invoice ids), ``skipped`` (its grace passed before it
could be issued) or ``failed`` (Stark Bank refused the batch). ``issued`` and ``skipped`` are
final. ``failed`` is retried while the slot is within its grace, each time after a bounded,
doubling wait (``retry_at``); past the grace it stays failed until an operator re-issues it
(``starkrelay campaign retry-slot N``). Only the holder of the slot's claim replaces an
outcome; anyone may add a missing one (``HSETNX``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import structlog

from starkrelay.core import metrics
from starkrelay.core.store import Store

log = structlog.get_logger("starkrelay.invoicing")


@dataclass(frozen=True)
class SlotOutcome:
    """The record of one slot. ``recovered``: its invoices were found at Stark Bank (by the
    slot tag) rather than created by this attempt. For ``failed``: ``errors`` holds the
    provider codes, ``attempts`` the refusals so far, ``retry_at`` when to try again."""

    slot: int
    status: str
    at: float
    invoice_ids: tuple[str, ...] = ()
    recovered: bool = False
    late: bool = False
    errors: tuple[str, ...] = field(default=())
    attempts: int = 0
    retry_at: float | None = None

    def is_final(self, deadline: float, now: float) -> bool:
        """True unless a failed slot may still be retried (``now`` within ``deadline``, the
        slot's ``fire_at + grace``)."""
        return self.status != "failed" or now > deadline

    def retry_due(self, deadline: float, now: float) -> bool:
        """True for a failed slot within its grace whose backoff has run out."""
        return not self.is_final(deadline, now) and now >= (self.retry_at or 0.0)

    def to_json(self) -> str:
        return json.dumps(
            {
                "slot": self.slot,
                "status": self.status,
                "at": self.at,
                "invoice_ids": list(self.invoice_ids),
                "recovered": self.recovered,
                "late": self.late,
                "errors": list(self.errors),
                "attempts": self.attempts,
                "retry_at": self.retry_at,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> SlotOutcome:
        data = json.loads(text)
        retry_at = data.get("retry_at")
        return cls(
            slot=int(data["slot"]),
            status=str(data["status"]),
            at=float(data["at"]),
            invoice_ids=tuple(data.get("invoice_ids", ())),
            recovered=bool(data.get("recovered", False)),
            late=bool(data.get("late", False)),
            errors=tuple(data.get("errors", ())),
            attempts=int(data.get("attempts", 0)),
            retry_at=None if retry_at is None else float(retry_at),
        )


def retry_wait(attempts: int, initial: float, ceiling: float) -> float:
    """Seconds to wait after the ``attempts``-th refusal: ``initial`` doubling up to ``ceiling``."""
    return float(min(ceiling, initial * 2.0 ** max(0, attempts - 1)))


async def load_outcomes(store: Store, campaign_id: str) -> dict[int, SlotOutcome]:
    """Every recorded outcome of a campaign, by slot."""
    raw = await store.redis.hgetall(store.keys.campaign_slots(campaign_id))
    return {int(k): SlotOutcome.from_json(str(v)) for k, v in raw.items()}


async def load_outcome(store: Store, campaign_id: str, slot: int) -> SlotOutcome | None:
    """One slot's outcome, or None if none is recorded."""
    text = await store.redis.hget(store.keys.campaign_slots(campaign_id), str(slot))
    return None if text is None else SlotOutcome.from_json(str(text))


async def record_outcome(
    store: Store, campaign_id: str, outcome: SlotOutcome, *, replace_failed: bool
) -> SlotOutcome:
    """Record ``outcome`` unless the slot has one; returns the outcome now recorded.

    ``replace_failed`` (only for the holder of the slot's claim): a recorded ``failed``
    outcome is replaced. A recorded ``issued`` or ``skipped`` outcome is never replaced.
    Counts and logs only what this call wrote.
    """
    slots_key = store.keys.campaign_slots(campaign_id)
    written = await store.redis.hsetnx(slots_key, str(outcome.slot), outcome.to_json())
    if not written:
        existing = await load_outcome(store, campaign_id, outcome.slot)
        if existing is not None and not (replace_failed and existing.status == "failed"):
            return existing
        await store.redis.hset(slots_key, str(outcome.slot), outcome.to_json())
    kind = "recovered" if outcome.recovered else outcome.status
    metrics.CAMPAIGN_SLOTS.labels(outcome=kind).inc()
    if outcome.status == "issued":  # counted once: only the writer of the record gets here
        metrics.INVOICES_ISSUED.inc(len(outcome.invoice_ids))
    log_event = log.warning if outcome.status == "failed" else log.info
    log_event(
        f"campaign.slot.{outcome.status}",
        campaign_id=campaign_id,
        slot=outcome.slot,
        invoices=len(outcome.invoice_ids),
        recovered=outcome.recovered,
        late=outcome.late,
        errors=list(outcome.errors) or None,
        attempts=outcome.attempts or None,
        retry_at=outcome.retry_at,
    )
    return outcome
