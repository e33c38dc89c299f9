"""Taking a verified event: de-duplicate by id, then enqueue or record it, in one Redis step.

Used by the webhook route and by reconciliation (undelivered events), so both paths give the
same result for the same event. Guarantees, all from the single Lua script in ``store``:

- an event id is acted on at most once while its claim lives (at least the replay window);
- a credited invoice is enqueued at most once per attempt (``queued:<attempt>`` in its ledger),
  even when Stark Bank sends two different events for the same credit;
- the claim and the enqueue happen together or not at all: no crash between them can leave an
  event claimed but not enqueued (which would lose money) or enqueued twice.

Logs: one INFO line per event at most. An enqueued credit is logged at DEBUG here, since the
forwarding worker logs its transfer at INFO; every other outcome gets its INFO line here.
"""

from __future__ import annotations

import enum
import functools
import time
from dataclasses import dataclass

import structlog
from redis.exceptions import RedisError

from starkrelay import ledger
from starkrelay.core import relay_metrics as metrics
from starkrelay.core.store import Store, record_delivery
from starkrelay.ledger import LEDGER_TTL_SECONDS, IntakeCode, Stage
from starkrelay.ledger.identity import ForwardItem, is_balance_failure, parse_external_id
from starkrelay.webhooks.events import Event

log = structlog.get_logger(__name__)

_CLAIM_MARGIN_SECONDS = 86400
"""Event claims outlive the replay window by this much, to absorb clock skew."""

_TRANSFER_STAGE = {
    "created": Stage.SENT,
    "processing": Stage.SENT,
    "sending": Stage.SENT,
    "success": Stage.SUCCESS,
    "failed": Stage.FAILED,
    "canceled": Stage.FAILED,
}
"""What a transfer log of OURS (its id is the one we recorded) says of the forward's stage."""


class Outcome(enum.StrEnum):
    ENQUEUED = "enqueued"
    """A credited invoice was put on the forward stream."""
    ALREADY_ENQUEUED = "already_enqueued"
    """Another event (or reconciliation) already enqueued this invoice's attempt."""
    RECORDED = "recorded"
    """Our transfer's event (its id is the one we recorded) moved the forward's stage."""
    NOTED = "noted"
    """Informational fields were kept (a non-credited invoice log); no stage moved."""
    HINTED = "hinted"
    """A transfer event naming one of our forwards with an id we never recorded: a look-up
    of our own listing is scheduled; nothing moved."""
    FOREIGN = "foreign"
    """A transfer event about an invoice we never forwarded: nothing stored but a count."""
    DUPLICATE = "duplicate"
    """This event id was already taken: nothing done."""
    IGNORED = "ignored"
    """Claimed, but nothing of ours to do (a subscription or log type we do not act on, a
    transfer whose external id is not a forward's)."""


@dataclass(frozen=True)
class IntakePolicy:
    """How long claims live; from settings."""

    replay_window_seconds: float

    @property
    def event_ttl_seconds(self) -> int:
        return int(self.replay_window_seconds) + _CLAIM_MARGIN_SECONDS


async def take_event(
    store: Store,
    event: Event,
    policy: IntakePolicy,
    *,
    source: str = "webhook",
) -> Outcome:
    """Claim `event` by id and do its work atomically. Safe to call any number of times,
    concurrently, from any replica: the work happens once. Raises redis errors untouched
    (the route turns them into 503 so Stark Bank retries). Every delivery about one of our
    invoices, duplicates included, is then noted in that invoice's delivery list (after the
    work, and never instead of it)."""
    received = time.time()
    outcome = await _take_event(store, event, policy, source=source)
    invoice_id = _invoice_of(event)
    if invoice_id and outcome is not Outcome.FOREIGN:
        delivery: dict[str, str | float | None] = {
            "event_id": event.id,
            "at": received,
            "event_created": event.created.isoformat(),
            "subscription": event.subscription,
            "log_type": event.log_type,
            "outcome": outcome.value,
            "source": source,
        }
        try:
            await record_delivery(store, invoice_id, delivery, ttl_seconds=LEDGER_TTL_SECONDS)
        except RedisError as error:  # informational only: the work above is done and durable
            log.warning(
                "webhooks.delivery.unrecorded", event_id=event.id, invoice_id=invoice_id,
                error=str(error),
            )  # fmt: skip
    return outcome


def _invoice_of(event: Event) -> str | None:
    """The invoice an event is about: its own, or the one our forward transfer pays."""
    if event.invoice_log is not None:
        return event.invoice_log.invoice.id
    if event.transfer_log is not None:
        ours = parse_external_id(event.transfer_log.transfer.external_id)
        return ours[0] if ours else None
    return None


async def _take_event(store: Store, event: Event, policy: IntakePolicy, *, source: str) -> Outcome:
    """The event as a hint (``ledger.stages``): its body never sets a stage, an attempt, a
    transfer id or an amount."""
    now = time.time()
    metrics.events_by_kind(event.metric_subscription, event.metric_log_type).inc()
    claim_and = functools.partial(
        ledger.intake,
        store,
        event_id=event.id,
        event_ttl_seconds=policy.event_ttl_seconds,
        now=now,
    )
    if event.invoice_log is not None:
        invoice_log = event.invoice_log
        invoice = invoice_log.invoice
        noted = {f"log:{invoice_log.type}": invoice_log.created.isoformat()}
        if invoice_log.type != "credited":
            code, _ = await claim_and(action="note", invoice_id=invoice.id, ledger_fields=noted)
            return _logged(event, _OUTCOMES[code], source)
        # the entry's amounts are the claim, kept only to report a mismatch: the worker's
        # ownership read decides what (and whether) to send
        item = ForwardItem.from_credited(invoice, source=source)
        code, stream_id = await claim_and(
            action="forward",
            invoice_id=invoice.id,
            outcome="enqueued",
            stream_fields=item.to_fields()
            | {"enqueued_at": str(now), "event_id": event.id}
            | ({"workspace_id": event.workspace_id} if event.workspace_id else {}),
            ledger_fields=noted | {"credited_at": f"{invoice_log.created.timestamp():.6f}"},
        )
        outcome = _OUTCOMES[code]
        # DEBUG: the worker logs this invoice's one INFO line (forwarding.transfer.*)
        log.debug(
            "webhooks.event.taken",
            event_id=event.id,
            invoice_id=invoice.id,
            outcome=outcome.value,
            stream_id=stream_id or None,
            source=source,
        )
        return outcome
    if event.transfer_log is not None:
        transfer_log = event.transfer_log
        transfer = transfer_log.transfer
        ours = parse_external_id(transfer.external_id)
        if ours is not None:
            invoice_id, attempt = ours
            stage = _TRANSFER_STAGE.get(transfer_log.type)
            if stage is Stage.FAILED and is_balance_failure(transfer_log.errors):
                stage = Stage.WAITING
            fields: dict[str, str | int] = {f"transfer_status:{attempt}": transfer_log.type}
            if transfer_log.errors:
                fields[f"transfer_errors:{attempt}"] = ",".join(transfer_log.errors)
            code, _ = await claim_and(
                action="transfer" if stage else "note",
                invoice_id=invoice_id,
                attempt=attempt,
                transfer_id=transfer.id,
                transfer_stage=stage,
                ledger_fields=fields,
            )
            outcome = _OUTCOMES[code]
            if outcome is Outcome.RECORDED and stage in _COUNTED:
                metrics.TRANSFERS.labels(str(stage)).inc()
            elif outcome is Outcome.FOREIGN:
                metrics.FOREIGN_EVENTS.labels("no_forward").inc()
            return _logged(event, outcome, source, invoice_id=invoice_id, transfer_id=transfer.id)
    code, _ = await claim_and(action="none", invoice_id="")
    return _logged(event, _OUTCOMES[code], source)


_COUNTED = frozenset({Stage.SUCCESS, Stage.FAILED, Stage.WAITING})

_OUTCOMES = {
    IntakeCode.DUPLICATE: Outcome.DUPLICATE,
    IntakeCode.ENQUEUED: Outcome.ENQUEUED,
    IntakeCode.ALREADY_ENQUEUED: Outcome.ALREADY_ENQUEUED,
    IntakeCode.RECORDED: Outcome.RECORDED,
    IntakeCode.IGNORED: Outcome.IGNORED,
    IntakeCode.HINTED: Outcome.HINTED,
    IntakeCode.FOREIGN: Outcome.FOREIGN,
    IntakeCode.NOTED: Outcome.NOTED,
}


def _logged(event: Event, outcome: Outcome, source: str, **ids: str) -> Outcome:
    """The event's one INFO line (nothing else logs it at INFO)."""
    log.info(
        "webhooks.event.taken",
        event_id=event.id,
        subscription=event.subscription,
        log_type=event.log_type,
        outcome=outcome.value,
        source=source,
        **(ids if outcome in (Outcome.FOREIGN, Outcome.HINTED) else {}),
    )
    return outcome
