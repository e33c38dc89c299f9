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

from starkrelay import store
from starkrelay.forwarding.items import ForwardItem, is_balance_failure, parse_external_id
from starkrelay.ops import relay_metrics as metrics
from starkrelay.store import LEDGER_TTL_SECONDS, Keys, Redis
from starkrelay.webhooks.events import Event

log = structlog.get_logger(__name__)

_CLAIM_MARGIN_SECONDS = 86400
"""Event claims outlive the replay window by this much, to absorb clock skew."""

_TRANSFER_STAGE = {
    "created": "sent",
    "processing": "sent",
    "sending": "sent",
    "success": "success",
    "failed": "failed",
    "canceled": "failed",
}


class Outcome(enum.StrEnum):
    ENQUEUED = "enqueued"
    """A credited invoice was put on the forward stream."""
    ALREADY_ENQUEUED = "already_enqueued"
    """Another event (or reconciliation) already enqueued this invoice's attempt."""
    RECORDED = "recorded"
    """The ledger was updated (non-credited invoice log, transfer log, net <= 0)."""
    DUPLICATE = "duplicate"
    """This event id was already taken: nothing done."""
    IGNORED = "ignored"
    """Claimed, but nothing of ours to do (a subscription or log type we do not act on,
    someone else's transfer)."""


@dataclass(frozen=True)
class IntakePolicy:
    """How long claims live; from settings."""

    replay_window_seconds: float

    @property
    def event_ttl_seconds(self) -> int:
        return int(self.replay_window_seconds) + _CLAIM_MARGIN_SECONDS


async def take_event(
    redis: Redis,
    keys: Keys,
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
    outcome = await _take_event(redis, keys, event, policy, source=source)
    invoice_id = _invoice_of(event)
    if invoice_id:
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
            await store.record_delivery(
                redis, keys, invoice_id, delivery, ttl_seconds=LEDGER_TTL_SECONDS
            )
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


async def _take_event(
    redis: Redis, keys: Keys, event: Event, policy: IntakePolicy, *, source: str
) -> Outcome:
    now = time.time()
    metrics.EVENTS.labels(event.metric_subscription, event.metric_log_type).inc()
    claim_and = functools.partial(
        store.intake_event,
        redis,
        keys,
        event_id=event.id,
        event_ttl_seconds=policy.event_ttl_seconds,
        now=now,
        ledger_ttl_seconds=LEDGER_TTL_SECONDS,
    )
    if event.invoice_log is not None:
        invoice_log = event.invoice_log
        invoice = invoice_log.invoice
        ledger: dict[str, str | int] = {f"log:{invoice_log.type}": invoice_log.created.isoformat()}
        if invoice_log.type == "credited":
            item = ForwardItem.from_credited(invoice, source=source)
            ledger |= {
                "amount": item.amount,
                "gross_amount": item.gross_amount,
                "fee": item.fee,
                "credited_at": f"{invoice_log.created.timestamp():.6f}",
            }
            if item.amount > 0:
                code, stream_id = await claim_and(
                    action="forward",
                    invoice_id=invoice.id,
                    outcome="enqueued",
                    stream_fields=item.to_fields()
                    | {"enqueued_at": str(now), "event_id": event.id}
                    | ({"workspace_id": event.workspace_id} if event.workspace_id else {}),
                    ledger_fields=ledger,
                )
                outcome = _outcome(code)
                # DEBUG: the worker logs this invoice's one INFO line (forwarding.transfer.*)
                log.debug(
                    "webhooks.event.taken",
                    event_id=event.id,
                    invoice_id=invoice.id,
                    outcome=outcome.value,
                    amount=item.amount,
                    stream_id=stream_id or None,
                    source=source,
                )
                return outcome
            ledger["skipped_reason"] = "net amount is not positive"
            log.warning("forwarding.item.skipped", invoice_id=invoice.id, amount=item.amount)
        stage = "skipped" if invoice_log.type == "credited" else ""
        code, _ = await claim_and(
            action="record",
            invoice_id=invoice.id,
            stage=stage,
            ledger_fields=ledger,
        )
        return _logged(event, _outcome(code), source)
    if event.transfer_log is not None:
        transfer_log = event.transfer_log
        transfer = transfer_log.transfer
        ours = parse_external_id(transfer.external_id)
        stage = _TRANSFER_STAGE.get(transfer_log.type, "")
        if stage == "failed" and is_balance_failure(transfer_log.errors):
            stage = "waiting"  # a hint: forwarding.balance_wait reads Stark Bank before a re-send
        if ours is not None:
            invoice_id, attempt = ours
            fields: dict[str, str | int] = {
                f"transfer:{attempt}": transfer.id,
                f"transfer_status:{attempt}": transfer_log.type,
            }
            if transfer_log.errors:
                fields[f"transfer_errors:{attempt}"] = ",".join(transfer_log.errors)
            code, _ = await claim_and(
                action="record",
                invoice_id=invoice_id,
                attempt=attempt,
                stage=stage,
                ledger_fields=fields,
            )
            if code == 3 and stage in {"success", "failed", "waiting"}:
                metrics.TRANSFERS.labels(stage).inc()
            return _logged(event, _outcome(code), source)
    code, _ = await claim_and(
        action="none",
        invoice_id="",
    )
    return _logged(event, _outcome(code), source)


def _outcome(code: int) -> Outcome:
    return {
        0: Outcome.DUPLICATE,
        1: Outcome.ENQUEUED,
        2: Outcome.ALREADY_ENQUEUED,
        3: Outcome.RECORDED,
        4: Outcome.IGNORED,
    }[code]


def _logged(event: Event, outcome: Outcome, source: str) -> Outcome:
    """The event's one INFO line (nothing else logs it at INFO)."""
    log.info(
        "webhooks.event.taken",
        event_id=event.id,
        subscription=event.subscription,
        log_type=event.log_type,
        outcome=outcome.value,
        source=source,
    )
    return outcome
