"""The Prometheus registry and the process's own metrics.

Every metric lives in ``REGISTRY`` (not the process-global default), so ``GET /metrics`` shows
exactly these and tests can import this module freely. Features add their own metrics here or
in their own module, registering them with ``registry=REGISTRY``.

What a caller may rely on:

- Counters and histograms here count what THIS process did; gauges that describe state shared
  by every replica (queue, dead letters, ledger stages, last money report, campaign progress)
  are not here: ``ops.shared_state`` reads them from Redis at scrape time.
- No ``_created`` series: they double the series count and nothing alerts on them.
- Label values are bounded: a feature that labels by something from outside (an event's
  subscription, a path) maps it to a fixed set first.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from starkrelay import __version__

disable_created_metrics()  # type: ignore[no-untyped-call]

REGISTRY = CollectorRegistry(auto_describe=True)

_Metric = TypeVar("_Metric", Counter, Gauge, Histogram)


def remembered_labels(metric: _Metric) -> Callable[..., _Metric]:
    """``metric.labels``, each child looked up once per label values: for lookups made per
    event. The metric keeps every child anyway (label values are bounded), so this adds no
    series and holds nothing the metric does not."""
    return functools.cache(metric.labels)


BUILD_INFO = Gauge(
    "starkrelay_build_info",
    "Always 1; the label names the running version of starkrelay.",
    ["version"],
    registry=REGISTRY,
)
BUILD_INFO.labels(version=__version__).set(1)

INVOICES_ISSUED = Counter(
    "starkrelay_invoices_issued",
    "Invoices created by the campaign and ad-hoc batches.",
    registry=REGISTRY,
)
CAMPAIGN_SLOTS = Counter(
    "starkrelay_campaign_slots",
    "Campaign slots resolved by this process, by outcome (issued, recovered, skipped, failed).",
    ["outcome"],
    registry=REGISTRY,
)
BANK_CALLS = Counter(
    "starkrelay_bank_calls",
    "Stark Bank API attempts, by gateway operation.",
    ["operation"],
    registry=REGISTRY,
)
BANK_DEGRADED = Gauge(
    "starkrelay_bank_degraded",
    "1 while this process's last Stark Bank call failed transiently after its retries "
    "(throttled, 5xx, timeout, connection); 0 once a call is answered. Nothing is "
    "dead-lettered for it: the work waits and is tried again.",
    registry=REGISTRY,
)
BANK_DEGRADED_SINCE = Gauge(
    "starkrelay_bank_degraded_since_timestamp_seconds",
    "Unix time since which Stark Bank has been failing or throttling for this process "
    "(0 when it answers).",
    registry=REGISTRY,
)
BANK_ERRORS = Counter(
    "starkrelay_bank_errors",
    "Stark Bank API errors, by operation and kind (throttled, server_error, connection, "
    "timeout, input, unexpected).",
    ["operation", "kind"],
    registry=REGISTRY,
)
REDIS_UP = Gauge(
    "starkrelay_redis_up",
    "1 when Redis answered this process's last readiness probe or campaign tick, else 0.",
    registry=REGISTRY,
)
PUBLIC_KEY_LOADED = Gauge(
    "starkrelay_stark_public_key_loaded",
    "1 when the Stark Bank public key (for webhook signatures) is loaded, else 0.",
    registry=REGISTRY,
)
HTTP_REQUEST_DURATION = Histogram(
    "starkrelay_http_request_duration_seconds",
    "HTTP requests served, by method, route template (unmatched when no route matched) and "
    "status code; until the response is sent.",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)


def render() -> bytes:
    """This process's registry alone, in the Prometheus text format (no shared state; the
    ``/metrics`` route uses ``ops.scrape.render_metrics``)."""
    return generate_latest(REGISTRY)
