"""Every Redis key name, and nowhere else.

Every key starts with ``REDIS_KEY_PREFIX`` (``Keys(prefix)``), so several deployments or tests
can share one Redis without seeing each other. Sections below group keys by feature; add a
feature's keys in its own section.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starkrelay.core.settings import Settings


@dataclass(frozen=True)
class Keys:
    """Key-name builder. ``Keys("starkrelay").campaign()`` -> ``"starkrelay:campaign"``."""

    prefix: str

    def key(self, *parts: str | int) -> str:
        """``prefix:part1:part2...``; parts must not contain spaces."""
        return ":".join([self.prefix, *(str(part) for part in parts)])

    # --- invoice campaign ---------------------------------------------------------------------
    def campaign(self) -> str:
        """String (JSON): the current campaign (id, t0, interval, slots, grace; ``adopted_at`` when
        rebuilt from Stark Bank). Written once per start, or once per re-adoption."""
        return self.key("campaign")

    def campaign_history(self) -> str:
        """List (JSON): campaigns replaced by ``campaign start``, newest first."""
        return self.key("campaign", "history")

    def campaign_slots(self, campaign_id: str) -> str:
        """Hash: slot number -> JSON outcome (issued / skipped / failed). Issued and skipped are
        final; failed is replaced by the slot claim's holder when the slot is retried."""
        return self.key("campaign", campaign_id, "slots")

    def slot_claim(self, campaign_id: str, slot: int) -> str:
        """String with expiry: the owner token of the process working on a slot."""
        return self.key("campaign", campaign_id, "slot", slot, "claim")

    # --- our Stark Bank workspace ------------------------------------------------------------
    def workspace_id(self) -> str:
        """String: the id of our Stark Bank workspace, as Stark Bank's own records name it
        (learned with our credentials; never from an unconfirmed webhook)."""
        return self.key("workspace", "id")

    # --- webhook registration -----------------------------------------------------------------
    def webhook_registration_lock(self) -> str:
        """String with expiry: owner token of the process registering the Stark Bank webhook."""
        return self.key("webhook", "registration", "lock")

    # --- webhooks (inbound events) ------------------------------------------------------------
    def event_claim(self, event_id: str) -> str:
        """String with expiry (>= the replay window): the event was taken; value = its outcome."""
        return self.key("event", event_id)

    def webhook_ledger(self, invoice_id: str) -> str:
        """Hash: one invoice's money record (stage, attempt, amounts, per attempt its enqueue
        time ``queued:<n>`` and stream entry id ``entry:<n>``, transfers, last error)."""
        return self.key("ledger", "invoice", invoice_id)

    def webhook_deliveries(self, invoice_id: str) -> str:
        """List (JSON, oldest first, capped): every delivery of an event about one invoice
        (event id, time, log type, outcome: ``duplicate`` when refused as a repeat)."""
        return self.key("ledger", "invoice", invoice_id, "deliveries")

    def webhook_delivery_log(self) -> str:
        """Stream, capped (``MAXLEN ~`` ``store.DELIVERY_LOG_KEPT``): every delivery recorded
        in an invoice's list, newest last (``invoice_id`` and the same JSON); the console's
        deliveries list pages through it newest first."""
        return self.key("ledger", "deliveries")

    def ledger_stages(self) -> str:
        """Hash: forward stage -> number of invoices currently in it (kept by the scripts)."""
        return self.key("ledger", "stages")

    def ledger_index(self) -> str:
        """Sorted set: invoice ids by time of their first ledger write (for reports)."""
        return self.key("ledger", "index")

    # --- forwarding ---------------------------------------------------------------------------
    def forward_stream(self) -> str:
        """Stream: credited invoices to forward (``ForwardItem`` fields); group ``forwarders``."""
        return self.key("forward", "stream")

    def forward_dead_letters(self) -> str:
        """Stream: forward entries given up on, with ``reason``; for people to look at."""
        return self.key("forward", "dead")

    def forward_counters(self) -> str:
        """Hash: running totals (transfer calls, items sent, cents forwarded...)."""
        return self.key("forward", "counters")

    def forward_waiting(self) -> str:
        """Sorted set: invoice ids whose forward waits for the balance (ledger stage
        ``waiting``), scored by when each first started waiting (oldest first)."""
        return self.key("forward", "waiting")

    def bank_health(self) -> str:
        """Hash, while Stark Bank throttles or fails the forwarding: ``since``, ``last_at``,
        ``kind`` (throttled, server_error, timeout, connection) and the last ``error``;
        deleted by the next batch that goes through."""
        return self.key("bank", "health")

    def forward_hints(self) -> str:
        """Hash: invoice id -> the transfer ids (space-separated) signed transfer events named
        that we never recorded; the balance wait's pass looks each up in our own listing,
        then deletes it.
        Only invoices that have a ledger are hinted, so it never outgrows our forwards."""
        return self.key("forward", "hints")

    def balance_wait_lock(self) -> str:
        """String with expiry: owner token of the process checking the balance for waiters."""
        return self.key("forward", "waiting", "lock")

    def balance_wait_check(self) -> str:
        """Hash: the last balance check for waiting forwards (balance, needed, when, released)."""
        return self.key("forward", "waiting", "check")

    # --- outflow controls: limits, held forwards, the pause switch ----------------------------
    def forward_held(self) -> str:
        """Sorted set: invoice ids whose forward is held for a person's approval (ledger stage
        ``held``), scored by when it was last held; kept by the ledger's scripts."""
        return self.key("forward", "held")

    def forward_budget(self, day: str) -> str:
        """Hash, kept 3 days: one day's outflow (``YYYY-MM-DD`` in ``RECONCILE_TIMEZONE``):
        ``used`` (cents reserved or confirmed), ``count``, ``confirmed`` (cents Stark Bank
        accepted) and ``confirmed_count``. Reservations are counted by ``ledger.budget``."""
        return self.key("forward", "budget", day)

    def forward_budget_hour(self, hour: str) -> str:
        """Hash, kept 3 days: one hour's forwards (``YYYY-MM-DDTHH``), ``used``."""
        return self.key("forward", "budget", "hour", hour)

    def forward_pause(self) -> str:
        """Hash, present while outflow is paused: ``at``, ``by``, ``reason``. Every worker
        reads it each round and, in one script, right before each transfer create."""
        return self.key("forward", "pause")

    def forward_pause_log(self) -> str:
        """List (JSON, newest first, capped): every pause and resume, with who and when."""
        return self.key("forward", "pause", "log")

    def forward_creating(self) -> str:
        """Sorted set: transfer creates in flight (``<consumer>:<token>``), scored by when the
        mark expires; a pause is acknowledged once it is empty."""
        return self.key("forward", "creating")

    # --- reconciliation -----------------------------------------------------------------------
    def reconcile_report(self) -> str:
        """String (JSON): the last money report."""
        return self.key("reconcile", "report")

    def reconcile_lock(self) -> str:
        """String with expiry: owner token of the process running a reconciliation."""
        return self.key("reconcile", "lock")

    def reconcile_report_history(self) -> str:
        """List (JSON): past money reports, newest first, ``RECONCILE_REPORT_HISTORY`` kept."""
        return self.key("reconcile", "reports")

    def reconcile_adhoc_report(self) -> str:
        """String (JSON): the last ad-hoc money report (a run given its own ``since``)."""
        return self.key("reconcile", "report", "adhoc")

    # --- console ------------------------------------------------------------------------------
    def console_session(self, digest: str) -> str:
        """String (JSON) with expiry: one signed-in console session, by the SHA-256 of its
        cookie value (the cookie itself is never stored)."""
        return self.key("console", "session", digest)

    def console_signin_link(self, digest: str) -> str:
        """String with expiry: a one-time sign-in link, by the SHA-256 of its token; deleted
        when used."""
        return self.key("console", "signin-link", digest)

    def console_reconcile_run(self) -> str:
        """String (JSON) with expiry: progress of the reconciliation started from the console."""
        return self.key("console", "reconcile-run")

    def console_audit(self) -> str:
        """Stream, capped (``MAXLEN ~ 10000``): operator actions (sign-ins, re-drives,
        reconciliations, acknowledgements): what, outcome, session, client address."""
        return self.key("console", "audit")

    def console_acknowledged(self) -> str:
        """Hash: counts a person acknowledged (``refused``, ``foreign_events``); the console's
        needs-action banner shows only what grew past them."""
        return self.key("console", "acknowledged")


def keys_from_settings(settings: Settings) -> Keys:
    """The key builder for ``REDIS_KEY_PREFIX``."""
    return Keys(settings.redis_key_prefix)
