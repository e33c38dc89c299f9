"""Metrics of the money path: webhook intake, forwarding, reconciliation.

Registered in ``starkrelay.core.metrics.REGISTRY`` so ``GET /metrics`` shows them. Each counts
what this process did. State shared by every replica (stream depth, lag, dead letters, ledger
stages, the last money report) is not kept here: ``ops.shared_state`` reads it from Redis at
scrape time, so every replica reports the same numbers.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from starkrelay.core.metrics import REGISTRY, remembered_labels

WEBHOOKS = Counter(
    "starkrelay_webhooks",
    "Webhook requests by outcome (enqueued, already_enqueued, recorded, duplicate, ignored, "
    "unsigned, too_large, malformed, other_workspace, stale, future, unavailable, disconnected).",
    ["outcome"],
    registry=REGISTRY,
)
SIGNATURE_FAILURES = Counter(
    "starkrelay_webhook_signature_failures",
    "Webhook requests refused because the Digital-Signature did not verify.",
    registry=REGISTRY,
)
EVENTS = Counter(
    "starkrelay_events",
    "Verified events taken (webhook or reconciliation), by subscription and log type; any "
    "subscription or log type not acted on is counted as other.",
    ["subscription", "log_type"],
    registry=REGISTRY,
)
TRANSFERS = Counter(
    "starkrelay_forward_transfers",
    "Forward items settled by this process, by outcome (sent, confirmed_duplicate, dead, "
    "skipped, refused, waiting; success and failed as transfer events report them).",
    ["outcome"],
    registry=REGISTRY,
)
TRANSFER_CALLS = Counter(
    "starkrelay_forward_transfer_calls",
    "transfer.create calls made by the forwarding worker, by result (ok, refused, unavailable).",
    ["result"],
    registry=REGISTRY,
)
# the label lookups made per event, each child found once
webhooks_by_outcome = remembered_labels(WEBHOOKS)
events_by_kind = remembered_labels(EVENTS)
transfers_by_outcome = remembered_labels(TRANSFERS)
OWNERSHIP_CALLS = Counter(
    "starkrelay_forward_ownership_calls",
    "Reads of Stark Bank's credited logs before forwarding (one per batch of up to 100), "
    "by result (ok, unavailable).",
    ["result"],
    registry=REGISTRY,
)
FOREIGN_EVENTS = Counter(
    "starkrelay_foreign_events",
    "Signed transfer events about a transfer our workspace does not hold (a stranger's, or "
    "one that names an invoice we never forwarded); they move nothing. By where it was found "
    "out: no_forward (at intake) or not_in_our_listing (the look-up).",
    ["found"],
)
REVERSED_BEFORE_FORWARD = Counter(
    "starkrelay_forward_reversed_before_forward_cents",
    "Cents the ownership read found reversed to payers before the forward was sent, and so "
    "not forwarded (a reversal after the forward is the money report's line, "
    "starkrelay_reconcile_reversed_after_forward_cents).",
)
FORWARD_REFUSED = Counter(
    "starkrelay_forward_refused",
    "Forward entries refused because Stark Bank, read with our credentials, has no credit of "
    "the invoice in our workspace; nothing is sent for them. By reason (not_credited).",
    ["reason"],
    registry=REGISTRY,
)
AMOUNT_MISMATCHES = Counter(
    "starkrelay_forward_amount_mismatches",
    "Forwards whose event claimed other amounts than Stark Bank's credited record (the "
    "record's amount - fee was sent).",
    registry=REGISTRY,
)
FORWARDED_CENTS = Counter(
    "starkrelay_forwarded_cents",
    "Cents in forward transfers Stark Bank accepted (created), counted once per entry.",
    registry=REGISTRY,
)
FORWARD_LATENCY = Histogram(
    "starkrelay_forward_latency_seconds",
    "From enqueue of a credited invoice to its transfer created.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
    registry=REGISTRY,
)
BALANCE_RELEASES = Counter(
    "starkrelay_forward_balance_releases",
    "Waiting forwards released by the balance check, by outcome (queued: sent again once "
    "the balance covered it; recorded: Stark Bank already held its transfer).",
    ["outcome"],
    registry=REGISTRY,
)
RECONCILE_RUNS = Counter(
    "starkrelay_reconcile_runs",
    "Reconciliation runs, by result (ok, failed, busy).",
    ["result"],
    registry=REGISTRY,
)
FORWARDS_HELD = Counter(
    "starkrelay_forward_held",
    "Forwards held for a person's approval because sending them would pass a limit, by the "
    "limit (max_amount, daily_limit, hourly_count); nothing was sent for them.",
    ["limit"],
    registry=REGISTRY,
)
FORWARDS_HELD_CENTS = Counter(
    "starkrelay_forward_held_cents",
    "Cents of the forwards this process held for a person's approval.",
    registry=REGISTRY,
)
HELD_DECISIONS = Counter(
    "starkrelay_forward_held_decisions",
    "People's decisions on held forwards taken by this process, by outcome (approved: sent "
    "through the normal path; rejected: never sent).",
    ["outcome"],
    registry=REGISTRY,
)
