"""One workspace's in-memory state: resources, logs, events, balance, clock and timers.

All mutation happens on the server's event loop, so no locks are used. Every log written
through ``add_log`` becomes an event for each webhook subscribed to its resource at that
moment, handed to ``on_event`` (the deliverer).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Protocol

from starksandbox.clock import Clock, Timers
from starksandbox.config import Faults, SandboxConfig
from starksandbox.ids import IdFactory
from starksandbox.listing import Table
from starksandbox.models import Attempt, Event, Invoice, Log, Transfer, Webhook
from starksandbox.throttle import RequestBudget


class Snapshottable(Protocol):
    @property
    def id(self) -> str: ...

    def to_json(self) -> dict[str, object]: ...


class Workspace:
    """The emulated account. ``base_url`` is the server's own URL (used in invoice links).

    ``budget_clock`` (epoch seconds) tells the per-second request budget which second it is;
    the emulator's clock when None.
    """

    def __init__(
        self,
        config: SandboxConfig,
        base_url: str,
        budget_clock: Callable[[], float] | None,
    ) -> None:
        self.config = config
        self.base_url = base_url
        self.clock = Clock()
        self.timers = Timers(self.clock)
        self.rng = random.Random(config.seed)
        self.fault_rng = random.Random(self.rng.random())
        self.ids = IdFactory(self.rng)
        self.faults: Faults = config.faults
        self.request_budget = RequestBudget(budget_clock or self.clock.time)
        self.requests_throttled = 0
        self.workspace_id = config.workspace_id or self.ids.new()
        self.balance = config.initial_balance
        self.balance_id = self.ids.new()
        self.balance_updated = self.clock.now()
        self.invoices: Table[Invoice] = Table()
        self.invoice_logs: Table[Log] = Table(index=lambda log: log.subject_id)
        self.transfers: Table[Transfer] = Table()
        self.transfer_logs: Table[Log] = Table(index=lambda log: log.subject_id)
        self.events: Table[Event] = Table()
        self.attempts: Table[Attempt] = Table()
        self.webhooks: Table[Webhook] = Table()
        self.external_ids: dict[str, str] = {}
        self.invoice_uuids: dict[str, str] = {}
        self.on_event: Callable[[Event], None] | None = None
        self.deliveries_sent = 0
        self.deliveries_succeeded = 0
        self.deliveries_dropped = 0
        self.deliveries_duplicated = 0

    def move_balance(self, cents: int) -> None:
        self.balance += cents
        self.balance_updated = self.clock.now()

    def add_log(
        self, kind: str, subject: Snapshottable, log_type: str, errors: list[str] | None = None
    ) -> Log:
        """Record a log of ``subject`` (an invoice or a transfer) and raise its events."""
        log = Log(
            id=self.ids.new(),
            kind=kind,
            type=log_type,
            errors=list(errors or []),
            subject_id=subject.id,
            snapshot=subject.to_json(),
            created=self.clock.now(),
        )
        table = self.invoice_logs if kind == "invoice" else self.transfer_logs
        table.add(log)
        self._raise_event(kind, log)
        return log

    def _raise_event(self, subscription: str, log: Log) -> None:
        hooks = [
            hook.id
            for hook in self.webhooks.items
            if not hook.deleted and subscription in hook.subscriptions
        ]
        if not hooks:
            return
        event = Event(
            id=self.ids.new(),
            subscription=subscription,
            workspace_id=self.workspace_id,
            log=log.to_json(),
            created=self.clock.now(),
            webhook_ids=hooks,
        )
        self.events.add(event)
        if self.on_event is not None:
            self.on_event(event)

    def summary(self) -> dict[str, object]:
        """Counts by status, the balance, deliveries and attempts (for ``/sandbox/summary``)."""

        def by_status(items: list[Invoice] | list[Transfer]) -> dict[str, int]:
            counts: dict[str, int] = {}
            for item in items:
                counts[item.status] = counts.get(item.status, 0) + 1
            return counts

        live_events = [e for e in self.events.items if not e.deleted]
        return {
            "workspaceId": self.workspace_id,
            "balance": self.balance,
            "clockOffset": self.clock.offset,
            "now": self.clock.now().isoformat(),
            "invoices": by_status(self.invoices.items),
            "transfers": by_status(self.transfers.items),
            "invoiceLogs": len(self.invoice_logs),
            "transferLogs": len(self.transfer_logs),
            "webhooks": sum(1 for w in self.webhooks.items if not w.deleted),
            "events": len(live_events),
            "eventsDelivered": sum(1 for e in live_events if e.is_delivered),
            "eventsUndelivered": sum(1 for e in live_events if not e.is_delivered),
            "deliveriesSent": self.deliveries_sent,
            "deliveriesSucceeded": self.deliveries_succeeded,
            "deliveriesDropped": self.deliveries_dropped,
            "deliveriesDuplicated": self.deliveries_duplicated,
            "attempts": len(self.attempts),
            "requestsThrottled": self.requests_throttled,
            "pendingTimers": self.timers.pending(),
            "faults": self.faults.to_json(),
        }
