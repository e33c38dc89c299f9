"""The forwarding worker: forward stream entries become transfers, many per API call.

Delivery is at least once (Redis streams); the money is exactly once because every entry's
transfer carries its attempt's ``external_id`` and Stark Bank refuses a repeated one. Rules:

- an entry is only a claim: before any transfer, ONE read of the batch's ``credited`` logs
  with our credentials decides (``ownership.judge_ownership``). An invoice with no credit in
  our workspace is ``refused`` for the worker (only reconciliation, listing our own credited
  logs, may reopen it); the others are sent for what the RECORD says we hold (``amount - fee``
  less reversals), whatever the entry (the webhook body) said. If the read fails, nothing is sent;
- a refused create is settled by looking, never by its wording: an item whose attempt's
  transfer Stark Bank holds is recorded as it; only an item with none is dead-lettered (an
  error names it) or sent again (refused because of the others);
- an entry is acknowledged only after Stark Bank answered about it, in the same Lua step that
  records the outcome;
- outflow controls (``outflow``): a paused worker reads nothing and creates nothing (the flag
  is read every round, and again in one script right before each create); before the create
  each forward is counted against the limits or held for a person, atomically across
  replicas, and after it the count is confirmed or released;
- a worker first re-reads its own pending entries (it may have crashed mid-batch), then claims
  entries idle longer than ``FORWARD_CLAIM_IDLE_SECONDS`` from dead workers, then reads new ones;
- Stark Bank throttling, failing or out of reach (``BankUnavailableError``) is never a
  verdict on an entry: the entries stay pending, their delivery count is set back (it
  counts only answers and crashes), and the worker waits (``RetryPolicy.backoff``: doubling,
  jittered, at least Stark Bank's ``Retry-After``, at most ``BANK_BACKOFF_MAX_SECONDS``) for as
  long as it takes. After ``FORWARD_MAX_DELIVERIES`` deliveries otherwise (an unfamiliar error,
  a crash each time) an entry goes to the dead-letter stream with its last error.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace

import anyio
import structlog
from redis.exceptions import RedisError

from starkrelay.bank import (
    BankError,
    BankGateway,
    BankInputError,
    BankUnavailableError,
    RetryPolicy,
    Transfer,
)
from starkrelay.bank.credentials import CredentialsRefused, stop_if_credentials_refused
from starkrelay.core import relay_metrics as metrics
from starkrelay.core.settings import Settings
from starkrelay.core.store import Store
from starkrelay.forwarding import outcomes
from starkrelay.forwarding.balance_wait import balance_refusals, park
from starkrelay.forwarding.outflow import Outflow, OutflowConfig, OutflowPaused
from starkrelay.forwarding.ownership import Decision, judge_ownership
from starkrelay.forwarding.reader import Entry, StreamReader, ensure_group, first_per_attempt
from starkrelay.forwarding.transfers import Destination, build_transfer, read_refusal
from starkrelay.ledger import Evidence
from starkrelay.ledger.workspace import WorkspaceLearner

log = structlog.get_logger(__name__)

PAUSED_POLL_SECONDS = 0.25
"""How often a paused worker looks at the flag again (its heartbeat goes on meanwhile)."""


@dataclass(frozen=True)
class WorkerConfig:
    batch_size: int
    max_deliveries: int
    claim_idle_seconds: float
    block_ms: int
    backoff_max_seconds: float
    """Longest wait between two rounds while Stark Bank throttles or fails (minutes)."""
    backoff_initial_seconds: float = 0.2
    workspace_id: str | None = None
    """``STARK_WORKSPACE_ID``: compared with what Stark Bank reports, loudly."""
    outflow: OutflowConfig = field(default_factory=OutflowConfig)
    """The limits, their time zone, and how long a create may be in flight."""

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerConfig:
        return cls(
            batch_size=settings.forward_batch_size,
            max_deliveries=settings.forward_max_deliveries,
            claim_idle_seconds=settings.forward_claim_idle_seconds,
            block_ms=settings.forward_block_ms,
            backoff_max_seconds=settings.bank_backoff_max_seconds,
            workspace_id=settings.stark_workspace_id,
            outflow=OutflowConfig.from_settings(settings),
        )


class ForwardingWorker:
    """Consumes the forward stream as consumer `name` (keep it stable across restarts); the
    consumers of one process share `read_turn` (``StreamReader.read_turn``)."""

    def __init__(
        self,
        store: Store,
        bank: BankGateway,
        destination: Destination,
        config: WorkerConfig,
        name: str,
        read_turn: anyio.Lock | None = None,
    ) -> None:
        self.store, self.bank = store, bank
        self.destination, self.config, self.name = destination, config, name
        self.reader = StreamReader(
            store,
            name,
            batch_size=config.batch_size,
            claim_idle_seconds=config.claim_idle_seconds,
            block_ms=config.block_ms,
            read_turn=read_turn,
        )
        self._last_autoclaim = 0.0
        self._failures = 0
        self._retry_after: float | None = None
        self._policy = RetryPolicy(
            deadline=0.0,
            max_wait=0.0,
            initial=config.backoff_initial_seconds,
            backoff_cap=config.backoff_max_seconds,
        )
        self.workspace = WorkspaceLearner(store, bank, config.workspace_id)
        self._ledger_extra: outcomes.LedgerExtra = {}
        self.outflow = Outflow(store, bank, config.outflow, name)
        self.paused = False
        """Outflow was paused at this worker's last look (start of a round, or a create)."""

    async def run(self, stop: anyio.Event, beat: Callable[[], None] | None = None) -> None:
        """Forward until `stop` is set. Redis or bank outages are logged and waited out.
        `beat` is called once per round (the process's liveness watches it). The caller
        creates the consumer group first (``forwarding.service`` retries it at start)."""
        await _quietly(ensure_group(self.store))
        log.info("forwarding.worker.started", consumer=self.name)
        await _quietly(self.workspace.learn_from_bank())
        while not stop.is_set():
            if beat is not None:
                beat()
            try:
                worked = await self.step()
            except RedisError as exc:
                log.warning("forwarding.worker.redis_unavailable", error=str(exc))
                if "NOGROUP" in str(exc):  # stream or group deleted (e.g. Redis rebuilt)
                    await _quietly(ensure_group(self.store))
                worked = None
            except BankError as exc:  # e.g. a duplicate's look-up failed: entries stay pending
                log.warning("forwarding.worker.bank_unavailable", error=str(exc))
                worked = None
            except CredentialsRefused:
                raise  # the part dies and the process exits: a restart checks them again
            except Exception:
                log.exception("forwarding.worker.unexpected_error", consumer=self.name)
                worked = None
            if worked is None:
                self._failures += 1
                await self._backoff()
            elif self.paused:
                with anyio.move_on_after(PAUSED_POLL_SECONDS):
                    await stop.wait()
            elif worked is False and self.config.block_ms <= 0:
                await anyio.sleep(0.05)  # not blocking in Redis: do not spin
        log.info("forwarding.worker.stopped", consumer=self.name)

    async def step(self, *, block: bool = True) -> bool | None:
        """One round: own pending, then claimed, then new entries; forward one batch.

        Returns True if entries were settled, False if there was nothing to do (or outflow is
        paused: nothing is read), None after a transient failure (entries left pending; the
        caller backs off).
        """
        if await self._outflow_paused():
            return False
        await self.outflow.release_next_day()
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
        if self.paused:  # paused right before a create: the entries wait, pending
            return False
        if ok:
            self._failures, self._retry_after = 0, None
            await outcomes.bank_answered(self.store)
        return True if ok else None

    # --- forwarding ------------------------------------------------------------------------
    async def forward(self, entries: Sequence[Entry]) -> bool:
        """Forward `entries` (at most 100): ONE ownership read, then as few transfer.create
        calls as possible for what Stark Bank confirms.

        Returns False when a transient failure left some entries pending."""
        self._ledger_extra.clear()  # per batch: what an earlier batch left is read again
        live: list[Entry] = []
        for entry in entries:
            if entry.item is None:
                await outcomes.drop_unreadable(self.store, entry)
            elif entry.deliveries > self.config.max_deliveries:
                reason = await outcomes.last_error(self.store, entry)
                await outcomes.dead_letter(
                    self.store, entry, reason, "max_deliveries", Evidence.DELIVERIES
                )
            else:
                live.append(entry)
        if not live:
            return True
        try:
            confirmed = await self._confirm_ownership(live)
        except BankError as exc:  # nothing is sent without the read: entries stay pending
            stop_if_credentials_refused(exc)
            return await self._failed(live, exc)
        try:
            sendable, marks = await self.outflow.admit(
                first_per_attempt(confirmed), self._ledger_extra
            )
        except BankError as exc:  # the day's count could not be started: nothing is sent
            stop_if_credentials_refused(exc)
            return await self._failed(confirmed, exc)
        sent = await self._send(sendable)
        await self.outflow.settle(marks)
        return sent

    async def _outflow_paused(self) -> bool:
        """Read the pause flag (every round); log when this worker stops or starts again."""
        paused = await self.outflow.paused()
        if paused != self.paused:
            log.warning(
                "forwarding.worker.paused" if paused else "forwarding.worker.resumed",
                consumer=self.name,
            )
        self.paused = paused
        return paused

    async def _confirm_ownership(self, entries: list[Entry]) -> list[Entry]:
        """Read the batch's credits from Stark Bank (one call), settle what must not be sent
        (``refused``, ``skipped``) and return the rest carrying the RECORD's amounts."""
        items = [e.readable_item for e in entries]
        await self.store.redis.hincrby(self.store.keys.forward_counters(), "ownership_calls", 1)
        try:
            logs = await self.bank.credited_logs({i.invoice_id for i in items})
        except BankError:
            metrics.OWNERSHIP_CALLS.labels("unavailable").inc()
            raise
        metrics.OWNERSHIP_CALLS.labels("ok").inc()
        confirmed: list[Entry] = []
        refused = []
        for entry, verdict in zip(entries, judge_ownership(items, logs), strict=True):
            if verdict.decision is Decision.REFUSE:
                refused.append((entry, verdict))
                continue
            await self.workspace.learn_from_confirmed(entry.workspace_id)
            if verdict.decision is Decision.SKIP:
                await outcomes.record_skipped(self.store, entry, verdict)
                continue
            if verdict.mismatch:
                log.warning(
                    "forwarding.amount.mismatch",
                    invoice_id=verdict.item.invoice_id,
                    event_id=entry.event_id,
                    claimed_amount=verdict.claimed.amount,
                    recorded_amount=verdict.item.amount,
                    credited_log_id=verdict.credit.log_id if verdict.credit else None,
                )
            self._ledger_extra[entry.id] = outcomes.claimed_fields(verdict)
            confirmed.append(replace(entry, item=verdict.item))
        if refused:
            await outcomes.record_refused(self.store, refused)
        return confirmed

    async def _send(self, live: list[Entry]) -> bool:
        """Create transfers for `live` (ownership confirmed); settle every refused item by
        looking it up. False when a transient failure left entries pending."""
        for _ in range(len(live) + 1):  # each refusal settles at least one item, or stops
            if not live:
                return True
            try:
                async with self.outflow.creating():
                    created = await self._create(live)
            except OutflowPaused:
                return await self._paused_before_create(live)
            except BankInputError as refusal:
                stop_if_credentials_refused(refusal)
                try:
                    remaining = await self._handle_refusal(live, refusal)
                except BankError as exc:  # the look-up failed: look again next round
                    stop_if_credentials_refused(exc)
                    return await self._failed(live, exc)
                if len(remaining) == len(live):
                    log.error("forwarding.batch.refusal_unreadable", codes=refusal.codes)
                    await outcomes.note_failure(self.store, live, refusal)
                    return False
                live = remaining
                continue
            except BankError as exc:
                return await self._failed(live, exc)
            await self._settle_created(live, created)
            return True
        return not live

    async def _paused_before_create(self, entries: list[Entry]) -> bool:
        """Outflow was paused right before the create: nothing was created. The entries stay
        pending, their delivery count set back; their reservations are kept."""
        self.paused = True
        log.warning("forwarding.batch.paused", consumer=self.name, size=len(entries))
        await self.reader.forgive([e.id for e in entries])
        return True

    async def _create(self, entries: Sequence[Entry]) -> list[Transfer]:
        transfers = [build_transfer(e.readable_item, self.destination) for e in entries]
        await self.store.redis.hincrby(self.store.keys.forward_counters(), "transfer_calls", 1)
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
        await outcomes.record_created(self.store, entries, created, self._ledger_extra)

    async def _handle_refusal(self, entries: list[Entry], refusal: BankInputError) -> list[Entry]:
        """Settle a refused batch by looking, whatever the refusal says: an item whose
        attempt's transfer Stark Bank holds (tag ``invoice:<id>``, same ``external_id``) is
        recorded as that transfer; an item with none is dead-lettered if an error names it
        (or waits, for a short balance), else sent again. Returns the entries to send again.
        Raises ``BankError`` when the look-up fails (nothing settled)."""
        holding = await self._record_existing(entries)
        verdict = read_refusal(refusal, len(entries))  # a batch of one: errors name it
        missing = [(i, e) for i, e in enumerate(entries) if e.id not in holding]
        if verdict.unplaced and missing:
            log.warning("forwarding.batch.unplaced_errors", codes=refusal.codes, size=len(entries))
            for _, entry in missing:  # find out item by item
                await self._send([entry])
            return []
        balance = balance_refusals(refusal, len(entries))
        again: list[Entry] = []
        for index, entry in missing:
            if index not in verdict.named:
                again.append(entry)  # refused because of the others: send again
            elif index in balance:
                await self._wait_for_balance([entry], verdict.reasons(index))
            else:
                reason = verdict.reasons(index)
                await outcomes.dead_letter(self.store, entry, reason, "refused", Evidence.CREATE)
        return again

    async def _wait_for_balance(self, entries: Sequence[Entry], reason: str) -> None:
        """Refused for lack of balance: each entry is acknowledged and its invoice waits
        (ledger ``waiting``), spending no re-send budget; ``balance_wait`` sends it again."""
        await park(self.store, [(e.id, e.readable_item) for e in entries], reason)

    async def _record_existing(self, entries: Sequence[Entry]) -> set[str]:
        """Look the attempts of `entries` up at Stark Bank (by tag, then ``external_id``) and
        record each transfer found as its attempt's. Returns the ids of the entries settled."""
        items = [e.readable_item for e in entries]
        found = await self.bank.find_transfers(
            tags=sorted({i.tag for i in items}), external_ids=[i.external_id for i in items]
        )
        return await outcomes.record_found(self.store, entries, found, self._ledger_extra)

    async def _backoff(self) -> None:
        await anyio.sleep(self._policy.backoff(self._failures, self._retry_after))

    async def _failed(self, entries: list[Entry], exc: BankError) -> bool:
        """Keep a failure in the entries' ledgers; a transient one (Stark Bank throttling or
        down) also sets their delivery counts back and is remembered for the backoff.
        Returns False (the entries stay pending)."""
        await outcomes.note_failure(self.store, entries, exc)
        if isinstance(exc, BankUnavailableError):
            self._retry_after = exc.retry_after
            await self.reader.forgive([e.id for e in entries])
        return False


async def _quietly(step: Awaitable[None]) -> None:
    try:
        await step
    except RedisError as exc:
        log.warning("forwarding.worker.redis_unavailable", error=str(exc))
