"""Metrics of the money path: webhook intake, forwarding, reconciliation.

Registered in ``starkrelay.ops.metrics.REGISTRY`` so ``GET /metrics`` shows them. Counters
count what this process did; gauges that describe shared state (stream depth, lag, dead
letters, the last money report) are refreshed from Redis by ``refresh_stream_gauges`` and
the reconciliation run, and are the same in every replica.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from starkrelay.ops.metrics import REGISTRY

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
    "Forward items settled, by outcome (sent, confirmed_duplicate, dead, skipped, refused, "
    "success, failed, waiting).",
    ["outcome"],
    registry=REGISTRY,
)
TRANSFER_CALLS = Counter(
    "starkrelay_forward_transfer_calls",
    "transfer.create calls made by the forwarding worker, by result (ok, refused, unavailable).",
    ["result"],
    registry=REGISTRY,
)
OWNERSHIP_CALLS = Counter(
    "starkrelay_forward_ownership_calls",
    "Reads of Stark Bank's credited logs before forwarding (one per batch of up to 100), "
    "by result (ok, unavailable).",
    ["result"],
    registry=REGISTRY,
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
STREAM_DEPTH = Gauge(
    "starkrelay_forward_stream_depth",
    "Entries in the forward stream not yet acknowledged (lag + pending).",
    registry=REGISTRY,
)
STREAM_LAG = Gauge(
    "starkrelay_forward_stream_lag",
    "Entries in the forward stream never delivered to a worker.",
    registry=REGISTRY,
)
STREAM_PENDING = Gauge(
    "starkrelay_forward_stream_pending",
    "Entries delivered to a worker and not yet acknowledged.",
    registry=REGISTRY,
)
STREAM_OLDEST_PENDING_SECONDS = Gauge(
    "starkrelay_forward_stream_oldest_pending_seconds",
    "Age of the oldest unacknowledged forward entry (0 when none).",
    registry=REGISTRY,
)
DEAD_LETTERS = Gauge(
    "starkrelay_forward_dead_letters",
    "Entries in the forward dead-letter stream.",
    registry=REGISTRY,
)
BALANCE_WAITING = Gauge(
    "starkrelay_forward_waiting_for_balance",
    "Invoices whose forward waits for the balance to cover it (ledger stage waiting).",
    registry=REGISTRY,
)
BALANCE_RELEASES = Counter(
    "starkrelay_forward_balance_releases",
    "Waiting forwards released by the balance check, by outcome (queued: sent again once "
    "the balance covered it; recorded: Stark Bank already held its transfer).",
    ["outcome"],
    registry=REGISTRY,
)
REPORT_CENTS = Gauge(
    "starkrelay_reconcile_report_cents",
    "Last money report, by line (credited, fees, net, forwarded, in_flight, failed, dead).",
    ["line"],
    registry=REGISTRY,
)
REPORT_DISAGREEMENTS = Gauge(
    "starkrelay_reconcile_disagreements",
    "Invoices whose numbers disagree in the last money report.",
    registry=REGISTRY,
)
REPORT_UNEXPLAINED_CENTS = Gauge(
    "starkrelay_reconcile_unexplained_outflow_cents",
    "Cents sent to the destination that no credited invoice of ours explains, in the last "
    "money report (transfers naming no credited invoice, second forwards, excess over "
    "amount - fee).",
    registry=REGISTRY,
)
REPORT_UNEXPLAINED_TRANSFERS = Gauge(
    "starkrelay_reconcile_unexplained_transfers",
    "Findings of unexplained outflow in the last money report (alert above 0).",
    registry=REGISTRY,
)
RECONCILE_RUNS = Counter(
    "starkrelay_reconcile_runs",
    "Reconciliation runs, by result (ok, failed, busy).",
    ["result"],
    registry=REGISTRY,
)
