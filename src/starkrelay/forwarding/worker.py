"""The forwarding worker: forward stream entries become transfers, many per API call.

Delivery is at least once (Redis streams); the money is exactly once because every entry's
transfer carries its attempt's ``external_id`` and Stark Bank refuses a repeated one. Rules:

- an entry is acknowledged only after Stark Bank answered about it (created, refused as a
  duplicate and confirmed by tag, or refused as invalid and dead-lettered), in the same Lua
  step that records the outcome;
- a worker first re-reads its own pending entries (it may have crashed mid-batch), then claims
  entries idle longer than ``FORWARD_CLAIM_IDLE_SECONDS`` from dead workers, then reads new ones;
- transient errors leave entries pending and back off; after ``FORWARD_MAX_DELIVERIES``
  deliveries an entry goes to the dead-letter stream with its last error.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import cast

import anyio
import structlog
from redis.exceptions import RedisError

from starkrelay import store
from starkrelay.bank import BankError, BankGateway, BankInputError, Transfer
from starkrelay.forwarding.balance_wait import balance_refusals, park
from starkrelay.forwarding.items import ForwardItem
from starkrelay.forwarding.reader import Entry, StreamReader, ensure_group
from starkrelay.forwarding.transfers import Destination, build_transfer, read_refusal
from starkrelay.ops import relay_metrics as metrics
from starkrelay.settings import Settings
from starkrelay.store import FORWARD_GROUP, Keys, Redis
from starkrelay.webhooks.intake import LEDGER_TTL_SECONDS

log = structlog.get_logger(__name__)

_STATUS_STAGE = {"success": "success", "failed": "failed", "canceled": "failed"}


@dataclass(frozen=True)
class WorkerConfig:
    batch_size: int
    max_deliveries: int
    claim_idle_seconds: float
    block_ms: int
    backoff_max_seconds: float
    backoff_initial_seconds: float = 0.2

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerConfig:
        return cls(
            batch_size=settings.forward_batch_size,
            max_deliveries=settings.forward_max_deliveries,
            claim_idle_seconds=settings.forward_claim_idle_seconds,
            block_ms=settings.forward_block_ms,
            backoff_max_seconds=settings.bank_retry_max_wait_seconds,
        )


class ForwardingWorker:
    """Consumes the forward stream as consumer `name` (keep it stable across restarts)."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        bank: BankGateway,
        destination: Destination,
        config: WorkerConfig,
        name: str,
    ) -> None:
        self.redis, self.keys, self.bank = redis, keys, bank
        self.destination, self.config, self.name = destination, config, name
        self.reader = StreamReader(
            redis,
            keys,
            name,
            batch_size=config.batch_size,
            claim_idle_seconds=config.claim_idle_seconds,
            block_ms=config.block_ms,
        )
        self._last_autoclaim = 0.0
        self._failures = 0

    async def run(self, stop: anyio.Event) -> None:
        """Forward until `stop` is set. Redis or bank outages are logged and waited out."""
        await ensure_group(self.redis, self.keys)
        log.info("forwarding.worker.started", consumer=self.name)
        while not stop.is_set():
            try:
                worked = await self.step()
            except RedisError as exc:
                log.warning("forwarding.worker.redis_unavailable", error=str(exc))
                if "NOGROUP" in str(exc):  # stream or group deleted (e.g. Redis rebuilt)
                    await _quietly(ensure_group(self.redis, self.keys))
                worked = None
            except BankError as exc:  # e.g. a duplicate's look-up failed: entries stay pending
                log.warning("forwarding.worker.bank_unavailable", error=str(exc))
                worked = None
            except Exception:
                log.exception("forwarding.worker.unexpected_error", consumer=self.name)
                worked = None
            if worked is None:
                self._failures += 1
                await self._backoff()
            elif worked is False and self.config.block_ms <= 0:
                await anyio.sleep(0.05)  # not blocking in Redis: do not spin
        log.info("forwarding.worker.stopped", consumer=self.name)

    async def step(self, *, block: bool = True) -> bool | None:
        """One round: own pending, then claimed, then new entries; forward one batch.

        Returns True if entries were settled, False if there was nothing to do, None after a
        transient failure (entries left pending; the caller backs off).
        """
        entries = await self.reader.own_pending()
        if not entries and time.monotonic() - self._last_autoclaim >= min(
            1.0, self.config.claim_idle_seconds / 2
        ):
            self._last_autoclaim = time.monotonic()
            if await self.reader.autoclaim():
                entries = await self.reader.own_pending()
        if not entries:
            entries = await self.reader.read_new(block=block)
        if not entries:
            return False
        ok = await self.forward(entries)
        if ok:
            self._failures = 0
        return True if ok else None

    # --- forwarding ------------------------------------------------------------------------
    async def forward(self, entries: Sequence[Entry]) -> bool:
        """Send `entries` (at most 100) in as few transfer.create calls as possible.

        Returns False when a transient failure left some entries pending."""
        live: list[Entry] = []
        for entry in entries:
            if entry.item is None:
                await self._drop_unreadable(entry)
            elif entry.deliveries > self.config.max_deliveries:
                await self._dead_letter(entry, await self._last_error(entry), "max_deliveries")
            else:
                live.append(entry)
        for _ in range(len(live) + 1):  # each refusal settles at least one item, or stops
            if not live:
                return True
            try:
                created = await self._create(live)
            except BankInputError as refusal:
                remaining = await self._handle_refusal(live, refusal)
                if len(remaining) == len(live):
                    log.error("forwarding.batch.refusal_unreadable", codes=refusal.codes)
                    await self._note_failure(live, refusal)
                    return False
                live = remaining
                continue
            except BankError as exc:
                await self._note_failure(live, exc)
                return False
            await self._settle_created(live, created)
            return True
        return not live

    async def _create(self, entries: Sequence[Entry]) -> list[Transfer]:
        transfers = [build_transfer(_item(e), self.destination) for e in entries]
        await self.redis.hincrby(self.keys.forward_counters(), "transfer_calls", 1)
        try:
            created = await self.bank.create_transfers(transfers)
        except BankInputError:
            metrics.TRANSFER_CALLS.labels("refused").inc()
            raise
        except BankError:
            metrics.TRANSFER_CALLS.labels("unavailable").inc()
            raise
        metrics.TRANSFER_CALLS.labels("ok").inc()
        return created

    async def _settle_created(self, entries: Sequence[Entry], created: list[Transfer]) -> None:
        by_external = {t.external_id: t for t in created}
        now = time.time()
        settled: list[tuple[Entry, Transfer]] = []
        for entry in entries:
            transfer = by_external.get(_item(entry).external_id)
            if transfer is None:  # the API answered without it: look again next round
                log.error("forwarding.transfer.missing_in_answer", entry_id=entry.id)
                continue
            settled.append((entry, transfer))
        await self._settle(settled, "sent", now)
        for entry, _ in settled:
            if entry.enqueued_at is not None:
                metrics.FORWARD_LATENCY.observe(max(0.0, now - entry.enqueued_at))

    async def _handle_refusal(self, entries: list[Entry], refusal: BankInputError) -> list[Entry]:
        """Settle each refused item on its own; return the entries to send again."""
        verdict = read_refusal(refusal, len(entries))
        if verdict.unplaced and len(entries) > 1:
            log.warning("forwarding.batch.unplaced_errors", codes=refusal.codes, size=len(entries))
            for entry in entries:  # find out item by item
                await self.forward([entry])
            return []
        balance = balance_refusals(refusal, len(entries))
        if balance:
            reason = "; ".join(f"{e.code}: {e.message}" for e in refusal.errors)
            await self._wait_for_balance([entries[i] for i in sorted(balance)], reason)
            if len(entries) == 1:
                return []
        if verdict.unplaced:
            reason = "; ".join(f"{e.code}: {e.message}" for e in verdict.unplaced)
            await self._dead_letter(entries[0], reason, "refused")
            return []
        for index in balance:
            verdict.invalid.pop(index, None)
        for index, reasons in verdict.invalid.items():
            await self._dead_letter(entries[index], "; ".join(reasons), "refused")
        if verdict.duplicates:
            await self._confirm_duplicates([entries[i] for i in sorted(verdict.duplicates)])
        return [e for i, e in enumerate(entries) if i not in verdict.refused | balance]

    async def _wait_for_balance(self, entries: Sequence[Entry], reason: str) -> None:
        """Refused for lack of balance: each entry is acknowledged and its invoice waits
        (ledger ``waiting``), spending no re-send budget; ``balance_wait`` sends it again."""
        await park(self.redis, self.keys, [(e.id, _item(e)) for e in entries], reason)

    async def _confirm_duplicates(self, entries: Sequence[Entry]) -> None:
        """An ``external_id`` already used means this attempt's transfer exists: find it by
        tag and record it. If it cannot be found the entries stay pending for a later look."""
        items = [_item(e) for e in entries]
        found = await self.bank.find_transfers(
            tags=sorted({i.tag for i in items}), external_ids=[i.external_id for i in items]
        )
        by_external = {t.external_id: t for t in found}
        now = time.time()
        for entry, item in zip(entries, items, strict=True):
            transfer = by_external.get(item.external_id)
            if transfer is None:
                log.error("forwarding.duplicate.not_found", external_id=item.external_id)
                continue
            stage = _STATUS_STAGE.get(transfer.status, "sent")
            await self._settle([(entry, transfer)], stage, now, confirmed=True)

    async def _settle(
        self,
        settled: Sequence[tuple[Entry, Transfer]],
        stage: str,
        now: float,
        *,
        confirmed: bool = False,
    ) -> None:
        """Record each entry's transfer and XACK it (one round trip for the whole list)."""
        settlements = []
        for entry, transfer in settled:
            item = _item(entry)
            settlements.append(
                store.Settlement(
                    entry_id=entry.id,
                    invoice_id=item.invoice_id,
                    attempt=item.attempt,
                    stage=stage,
                    amount=0 if confirmed else item.amount,
                    now=now,
                    ledger_ttl_seconds=LEDGER_TTL_SECONDS,
                    ledger_fields={
                        f"transfer:{item.attempt}": transfer.id,
                        f"transfer_status:{item.attempt}": transfer.status,
                        f"external_id:{item.attempt}": item.external_id,
                        "sent_at": f"{now:.6f}",
                    },
                )
            )
        firsts = await store.settle_forwards(self.redis, self.keys, settlements)
        outcome = "confirmed_duplicate" if confirmed else "sent"
        for (entry, transfer), first in zip(settled, firsts, strict=True):
            item = _item(entry)
            if first:
                metrics.TRANSFERS.labels(outcome).inc()
                if not confirmed:
                    metrics.FORWARDED_CENTS.inc(item.amount)
            log.info(
                "forwarding.transfer.confirmed" if confirmed else "forwarding.transfer.created",
                invoice_id=item.invoice_id,
                transfer_id=transfer.id,
                external_id=item.external_id,
                amount=item.amount,
                deliveries=entry.deliveries,
            )

    # --- failures --------------------------------------------------------------------------
    async def _note_failure(self, entries: Sequence[Entry], exc: BankError) -> None:
        log.warning("forwarding.batch.unavailable", size=len(entries), error=str(exc))
        for entry in entries:
            item = _item(entry)
            await store.intake_event(
                self.redis,
                self.keys,
                event_id=None,
                event_ttl_seconds=0,
                action="record",
                invoice_id=item.invoice_id,
                now=time.time(),
                ledger_ttl_seconds=LEDGER_TTL_SECONDS,
                ledger_fields={"last_error": str(exc)[:300]},
            )

    async def _last_error(self, entry: Entry) -> str:
        if entry.item is None:
            return "unreadable entry"
        ledger = self.keys.webhook_ledger(entry.item.invoice_id)
        error = cast(str | None, await self.redis.hget(ledger, "last_error"))
        return f"gave up after {entry.deliveries - 1} deliveries; last error: {error or 'none'}"

    async def _dead_letter(self, entry: Entry, reason: str, kind: str) -> None:
        item = _item(entry)
        settlement = store.Settlement(
            entry_id=entry.id,
            invoice_id=item.invoice_id,
            attempt=item.attempt,
            stage="dead",
            amount=item.amount,
            now=time.time(),
            ledger_ttl_seconds=LEDGER_TTL_SECONDS,
            ledger_fields={"dead_reason": reason[:500]},
            dead_letter=item.to_fields()
            | {"entry_id": entry.id, "kind": kind, "reason": reason[:500]},
        )
        await store.settle_forward(self.redis, self.keys, settlement)
        metrics.TRANSFERS.labels("dead").inc()
        log.error(
            "forwarding.item.dead_lettered",
            invoice_id=item.invoice_id,
            external_id=item.external_id,
            kind=kind,
            reason=reason,
        )

    async def _drop_unreadable(self, entry: Entry) -> None:
        stream = self.keys.forward_stream()
        raw = await self.redis.xrange(stream, entry.id, entry.id)
        fields: dict[str, str] = (
            {str(k): str(v) for k, v in (raw[0][1] or {}).items()} if raw else {}
        )
        fields |= {"entry_id": entry.id, "kind": "unreadable", "reason": "unreadable"}
        await self.redis.xadd(self.keys.forward_dead_letters(), dict(fields.items()))
        await self.redis.xack(stream, FORWARD_GROUP, entry.id)
        log.error("forwarding.entry.unreadable", entry_id=entry.id)

    async def _backoff(self) -> None:
        wait = min(
            self.config.backoff_max_seconds,
            self.config.backoff_initial_seconds * 2 ** min(self._failures, 10),
        )
        await anyio.sleep(wait)


async def _quietly(step: Awaitable[None]) -> None:
    try:
        await step
    except RedisError as exc:
        log.warning("forwarding.worker.redis_unavailable", error=str(exc))


def _item(entry: Entry) -> ForwardItem:
    assert entry.item is not None
    return entry.item
