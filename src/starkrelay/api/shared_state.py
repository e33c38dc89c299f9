"""Gauges of the state every replica shares, read from Redis when ``/metrics`` is scraped.

Queue, dead letters, invoices per forward stage, the last money report and campaign progress
live in Redis, not in any one process. Reading them at scrape time (instead of refreshing
process-local gauges now and then) means any replica, an ``api`` one that never served
``/api/v1/status`` included, reports the same numbers.

What a caller may rely on:

- ``read_shared_state`` takes at most ``within`` seconds and never raises: on any failure
  it returns ``None`` (and logs ``metrics.shared_state.unavailable`` with the reason).
- ``SharedStateCollector(snapshot).collect()`` always yields ``starkrelay_shared_state_up``
  (1 when the snapshot was read, 0 when not); the other families only when it was read, so a
  dashboard never shows a made-up zero during a Redis outage.
- Label values come from the store but are bounded: a stage, line or slot status is kept only
  when it is a short lower-case word, and at most ``MAX_LABEL_VALUES`` of each.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import anyio
import structlog
from prometheus_client.core import GaugeMetricFamily, Metric

from starkrelay.api.status import campaign_progress
from starkrelay.core.store import Store
from starkrelay.forwarding.stream_state import StreamState, stream_state
from starkrelay.ledger import LEDGER_STAGES as FORWARD_STAGES
from starkrelay.ledger.reads import held_cents, waiting_count
from starkrelay.reconciliation.report import MoneyReport, load_report

log = structlog.get_logger("starkrelay.ops")

MAX_LABEL_VALUES = 32
"""At most this many values per label, whatever the store holds."""

_LABEL_VALUE = re.compile(r"[a-z][a-z0-9_]{0,31}")

NAMES = (
    "starkrelay_shared_state_up",
    "starkrelay_shared_state_read_seconds",
    "starkrelay_forward_stream_depth",
    "starkrelay_forward_stream_lag",
    "starkrelay_forward_stream_pending",
    "starkrelay_forward_stream_oldest_pending_seconds",
    "starkrelay_forward_stream_consumers",
    "starkrelay_forward_dead_letters",
    "starkrelay_forward_invoices",
    "starkrelay_forward_waiting_for_balance",
    "starkrelay_forward_waiting_oldest_seconds",
    "starkrelay_forwarding_paused",
    "starkrelay_forward_held_invoices",
    "starkrelay_forward_held_amount_cents",
    "starkrelay_forward_held_oldest_seconds",
    "starkrelay_reconcile_report_cents",
    "starkrelay_reconcile_disagreements",
    "starkrelay_reconcile_unexplained_outflow_cents",
    "starkrelay_reconcile_unexplained_transfers",
    "starkrelay_reconcile_reversed_after_forward_cents",
    "starkrelay_reconcile_foreign_events",
    "starkrelay_reconcile_events_refused",
    "starkrelay_reconcile_last_success_timestamp_seconds",
    "starkrelay_campaign_slots_by_status",
    "starkrelay_campaign_invoices",
)
"""Every family this collector can yield (for ``describe`` and duplicate checks)."""


@dataclass(frozen=True)
class CampaignSnapshot:
    slots: int | None
    """Slots in the campaign; None when it never ends."""
    by_status: dict[str, int]
    invoices: int


@dataclass(frozen=True)
class Waiting:
    count: int
    """Forwards waiting for the balance (the waiting index)."""
    oldest_seconds: float
    """How long the oldest of them has waited (0 when none)."""


@dataclass(frozen=True)
class Outflow:
    paused: bool
    """Outflow is paused (the pause switch)."""
    held: int
    """Forwards held for a person's approval."""
    held_cents: int
    held_oldest_seconds: float
    """How long the forward held longest has been held (0 when none is)."""


@dataclass(frozen=True)
class SharedState:
    """One consistent-enough read of the shared state (each part is read once)."""

    stream: StreamState
    stages: dict[str, int]
    waiting: Waiting
    outflow: Outflow
    report: MoneyReport | None
    campaign: CampaignSnapshot | None
    read_seconds: float = field(default=0.0)


def bounded_counts(raw: Mapping[str, object], defaults: tuple[str, ...] = ()) -> dict[str, int]:
    """``raw`` as label value -> int: ``defaults`` first (0 unless present), then the other
    well-formed keys in sorted order, at most ``MAX_LABEL_VALUES`` in all. Keys that are not
    a short lower-case word, and values that are not integers, are left out."""
    counts = dict.fromkeys(defaults, 0)
    for name in [*defaults, *sorted(set(raw) - set(defaults))]:
        if len(counts) >= MAX_LABEL_VALUES and name not in counts:
            break
        if name not in raw or not _LABEL_VALUE.fullmatch(name):
            continue
        try:
            counts[name] = int(str(raw[name]))
        except ValueError:
            continue
    return counts


async def _read(store: Store) -> SharedState:
    started = time.perf_counter()
    stream = await stream_state(store)
    raw_stages = await store.redis.hgetall(store.keys.ledger_stages())
    stages = bounded_counts({str(k): v for k, v in raw_stages.items()}, FORWARD_STAGES)
    waiting = await _waiting(store)
    outflow = await _outflow(store)
    report = await load_report(store)
    progress = await campaign_progress(store)
    campaign = None
    if progress is not None:
        campaign = CampaignSnapshot(
            slots=progress["slots"],
            by_status=bounded_counts(progress["slots_by_status"], ("issued", "skipped", "failed")),
            invoices=int(progress["invoices_issued"]),
        )
    return SharedState(
        stream, stages, waiting, outflow, report, campaign, time.perf_counter() - started
    )


async def _waiting(store: Store) -> Waiting:
    count = await waiting_count(store)
    oldest = await store.redis.zrange(store.keys.forward_waiting(), 0, 0, withscores=True)
    since = float(oldest[0][1]) if oldest else None
    age = 0.0 if since is None else max(0.0, time.time() - since)
    return Waiting(count, age)


async def _outflow(store: Store) -> Outflow:
    pipe = store.redis.pipeline(transaction=False)
    pipe.exists(store.keys.forward_pause())
    pipe.zcard(store.keys.forward_held())
    pipe.zrange(store.keys.forward_held(), 0, 0, withscores=True)
    paused, held, oldest = await pipe.execute()
    age = max(0.0, time.time() - float(oldest[0][1])) if oldest else 0.0
    return Outflow(bool(paused), int(held), await held_cents(store), age)


async def read_shared_state(store: Store, within: float) -> SharedState | None:
    """The shared state, or None when Redis did not give it within ``within`` seconds (or
    any read failed). Never raises: a scrape must answer even when Redis cannot."""
    try:
        with anyio.fail_after(within):
            return await _read(store)
    except Exception as exc:  # any failure: the scrape still answers, with up = 0
        reason = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
        log.warning("metrics.shared_state.unavailable", reason=reason, error=str(exc)[:300])
        return None


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _labelled(
    name: str, documentation: str, label: str, values: Mapping[str, float]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for value_name, value in values.items():
        family.add_metric([value_name], value)
    return family


def _report_time(report: MoneyReport) -> float | None:
    try:
        return datetime.fromisoformat(report.generated_at).timestamp()
    except (TypeError, ValueError):
        return None


class SharedStateCollector:
    """A prometheus_client collector over one ``SharedState`` snapshot (or None when the
    read failed). Build one per scrape; it holds no connection."""

    def __init__(self, state: SharedState | None) -> None:
        self.state = state

    def describe(self) -> Iterator[Metric]:
        for name in NAMES:
            yield GaugeMetricFamily(name, "")

    def collect(self) -> Iterator[Metric]:
        state = self.state
        yield _gauge(
            "starkrelay_shared_state_up",
            "1 when this scrape read the shared state (queue, ledger, report, campaign) from "
            "Redis within METRICS_SCRAPE_TIMEOUT_SECONDS, else 0 (and those gauges are absent).",
            0 if state is None else 1,
        )
        if state is None:
            return
        yield _gauge(
            "starkrelay_shared_state_read_seconds",
            "How long this scrape took to read the shared state from Redis.",
            state.read_seconds,
        )
        yield from self._stream(state.stream)
        yield _labelled(
            "starkrelay_forward_invoices",
            "Invoices whose forward is in each ledger stage (queued, sent, success, failed, "
            "dead, skipped, and any stage the ledger adds), across every replica.",
            "stage",
            state.stages,
        )
        yield _gauge(
            "starkrelay_forward_waiting_for_balance",
            "Invoices whose forward waits for the balance to cover it (ledger stage waiting).",
            state.waiting.count,
        )
        yield _gauge(
            "starkrelay_forward_waiting_oldest_seconds",
            "How long the forward that has waited longest for the balance has waited "
            "(0 when none waits).",
            state.waiting.oldest_seconds,
        )
        yield from self._outflow(state.outflow)
        if state.report is not None:
            yield from self._report(state.report)
        if state.campaign is not None:
            yield from self._campaign(state.campaign)

    @staticmethod
    def _outflow(outflow: Outflow) -> Iterator[Metric]:
        yield _gauge(
            "starkrelay_forwarding_paused",
            "1 while outflow is paused (the pause switch: no replica creates transfers; "
            "forwards wait, nothing is lost), else 0.",
            1 if outflow.paused else 0,
        )
        yield _gauge(
            "starkrelay_forward_held_invoices",
            "Forwards held for a person's approval because sending them would pass a limit "
            "(FORWARD_MAX_AMOUNT, FORWARD_DAILY_LIMIT, FORWARD_HOURLY_COUNT).",
            outflow.held,
        )
        yield _gauge(
            "starkrelay_forward_held_amount_cents",
            "Cents of the forwards held for a person's approval.",
            outflow.held_cents,
        )
        yield _gauge(
            "starkrelay_forward_held_oldest_seconds",
            "How long the forward held longest has waited for a person (0 when none is held).",
            outflow.held_oldest_seconds,
        )

    @staticmethod
    def _stream(stream: StreamState) -> Iterator[Metric]:
        yield _gauge(
            "starkrelay_forward_stream_depth",
            "Entries in the forward stream not yet acknowledged (lag + pending).",
            stream.depth,
        )
        yield _gauge(
            "starkrelay_forward_stream_lag",
            "Entries in the forward stream never delivered to a worker.",
            stream.lag,
        )
        yield _gauge(
            "starkrelay_forward_stream_pending",
            "Entries delivered to a worker and not yet acknowledged.",
            stream.pending,
        )
        yield _gauge(
            "starkrelay_forward_stream_oldest_pending_seconds",
            "Age of the oldest unacknowledged forward entry (0 when none).",
            stream.oldest_pending_seconds,
        )
        yield _gauge(
            "starkrelay_forward_stream_consumers",
            "Consumers (forwarding workers, past and present) known to the forward group.",
            stream.consumers,
        )
        yield _gauge(
            "starkrelay_forward_dead_letters",
            "Entries in the forward dead-letter stream (each needs a person: "
            "starkrelay dead-letters list).",
            stream.dead_letters,
        )

    @staticmethod
    def _report(report: MoneyReport) -> Iterator[Metric]:
        lines = {
            line: float(getattr(report, line))
            for line in MoneyReport.LINES[:MAX_LABEL_VALUES]
            if _LABEL_VALUE.fullmatch(line)
        }
        yield _labelled(
            "starkrelay_reconcile_report_cents",
            "Last money report, by line (" + ", ".join(lines) + "), in cents.",
            "line",
            lines,
        )
        yield _gauge(
            "starkrelay_reconcile_disagreements",
            "Invoices whose numbers disagree in the last money report.",
            len(report.disagreements),
        )
        yield _gauge(
            "starkrelay_reconcile_unexplained_outflow_cents",
            "Cents sent to the destination that no credited invoice of ours explains, in the "
            "last money report (transfers naming no credited invoice, second forwards, excess "
            "over amount - fee).",
            report.unexplained_outflow,
        )
        yield _gauge(
            "starkrelay_reconcile_unexplained_transfers",
            "Findings of unexplained outflow in the last money report (alert above 0).",
            len(report.unexplained),
        )
        yield _gauge(
            "starkrelay_reconcile_reversed_after_forward_cents",
            "Cents forwarded above what we still hold because a reversal landed after the "
            "forward, in the last money report: money to recover (alert above 0).",
            report.reversed_after_forward,
        )
        yield _gauge(
            "starkrelay_reconcile_foreign_events",
            "Signed transfer events about transfers our workspace does not hold, as counted "
            "by the last money report (they moved nothing).",
            report.foreign_events,
        )
        yield _gauge(
            "starkrelay_reconcile_events_refused",
            "Undelivered events the last reconciliation could not take (malformed, or refused "
            "by the intake): left undelivered, examined again by every run (alert above 0; "
            "at most 100 are counted).",
            len(report.events_refused),
        )
        moment = _report_time(report)
        if moment is not None:
            yield _gauge(
                "starkrelay_reconcile_last_success_timestamp_seconds",
                "Unix time at which the last reconciliation that completed started "
                "(the same in every replica; absent before the first one).",
                moment,
            )

    @staticmethod
    def _campaign(campaign: CampaignSnapshot) -> Iterator[Metric]:
        by_status = dict(campaign.by_status)
        if campaign.slots is not None:
            by_status["pending"] = max(0, campaign.slots - sum(campaign.by_status.values()))
        yield _labelled(
            "starkrelay_campaign_slots_by_status",
            "Slots of the current campaign by status (issued, skipped, failed, and pending: "
            "not resolved yet; pending is absent for an endless campaign).",
            "status",
            by_status,
        )
        yield _gauge(
            "starkrelay_campaign_invoices",
            "Invoices issued by the current campaign's slots.",
            campaign.invoices,
        )
