"""A person's decision on held forwards: approve (sent once, through the normal path) or
reject (never sent).

Approving moves the ledger ``held`` -> ``queued`` in one guarded script that re-enqueues the
SAME attempt (same ``external_id``, so Stark Bank still refuses a second transfer) and
records who approved and when (``approved_at``, ``approved_by``). The worker then reads
ownership again and creates it like any forward: an approved forward is never held again,
but it is counted in the day's total once Stark Bank accepts it. Rejecting moves ``held`` ->
``rejected`` (final) with who and when. Both are guarded by the stage and attempt read, so
two people (two tabs, the console and the CLI) deciding the same forward at once decide it
once: the second finds it no longer held and is told so. Each decision is logged
(``forwarding.held.approved``, ``forwarding.held.rejected``) and counted.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterable
from dataclasses import dataclass

import structlog

from starkrelay import ledger
from starkrelay.core import relay_metrics as metrics
from starkrelay.core.store import Store
from starkrelay.ledger import Evidence, Move, MoveOutcome, Stage
from starkrelay.ledger.identity import ForwardItem

log = structlog.get_logger(__name__)


class Decision(enum.StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class DecisionOutcome(enum.StrEnum):
    """What deciding one invoice did."""

    APPROVED = "approved"
    """Enqueued again as the same attempt; the worker sends it once."""
    REJECTED = "rejected"
    """Recorded as rejected; nothing will be sent."""
    NOT_HELD = "not_held"
    """The invoice is not held (decided before, or never held): nothing done."""


@dataclass(frozen=True)
class DecisionResult:
    invoice_id: str
    outcome: DecisionOutcome
    detail: str = ""
    """The new stream entry id (approved) or the ledger's stage (not held)."""
    amount: int = 0

    def as_dict(self) -> dict[str, str | int]:
        return {
            "invoice_id": self.invoice_id,
            "outcome": self.outcome.value,
            "detail": self.detail,
            "amount": self.amount,
        }


async def decide(
    store: Store, invoice_ids: Iterable[str], decision: Decision, by: str
) -> list[DecisionResult]:
    """Approve or reject each held invoice of `invoice_ids` (each once, in order), as `by`
    (``console:<session>``, ``cli:<user>@<host>``, ``api:<client>``)."""
    results = []
    for invoice_id in dict.fromkeys(invoice_ids):
        results.append(await _decide_one(store, invoice_id, decision, by))
    return results


async def _decide_one(store: Store, invoice_id: str, decision: Decision, by: str) -> DecisionResult:
    row = await store.redis.hmget(
        store.keys.webhook_ledger(invoice_id),
        "stage",
        "attempt",
        "held_amount",
        "gross_amount",
        "fee",
    )
    stage, attempt, amount, gross, fee = row
    if stage != Stage.HELD or attempt is None or amount is None:
        return DecisionResult(invoice_id, DecisionOutcome.NOT_HELD, str(stage or "unknown"))
    now = time.time()
    number, cents = int(attempt), int(amount)
    who = by[:120]
    approve = decision is Decision.APPROVE
    item = ForwardItem(invoice_id, cents, int(gross or cents), int(fee or 0), number, "approval")
    fields = {
        f"{'approved' if approve else 'rejected'}_at": f"{now:.6f}",
        f"{'approved' if approve else 'rejected'}_by": who,
    }
    outcome, detail = await ledger.move(
        store,
        Move(
            invoice_id=invoice_id,
            expected=[Stage.HELD],
            expected_attempt=number,
            target=Stage.QUEUED if approve else Stage.REJECTED,
            attempt=number,
            evidence=Evidence.APPROVAL,
            now=now,
            stream_fields=item.to_fields() if approve else None,
            ledger_fields=fields | ({f"approved:{number}": f"{now:.6f}"} if approve else {}),
            counter="items_approved" if approve else "items_rejected",
        ),
    )
    if outcome is not MoveOutcome.MOVED:
        return DecisionResult(invoice_id, DecisionOutcome.NOT_HELD, detail.split(":")[0])
    result = DecisionOutcome.APPROVED if approve else DecisionOutcome.REJECTED
    metrics.HELD_DECISIONS.labels(result.value).inc()
    log.warning(
        f"forwarding.held.{result.value}",
        invoice_id=invoice_id,
        external_id=item.external_id,
        amount=cents,
        by=who,
        entry_id=detail if approve else None,
    )
    return DecisionResult(invoice_id, result, detail if approve else "", cents)
