"""The Prometheus registry and the metrics of the service.

Every metric lives in ``REGISTRY`` (not the process-global default), so ``GET /metrics``
shows exactly these and tests can import this module freely. Features add their own metrics
here or in their own module, registering them with ``registry=REGISTRY``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

INVOICES_ISSUED = Counter(
    "starkrelay_invoices_issued",
    "Invoices created by the campaign and ad-hoc batches.",
    registry=REGISTRY,
)
CAMPAIGN_SLOTS = Counter(
    "starkrelay_campaign_slots",
    "Campaign slots resolved, by outcome (issued, recovered, skipped, failed).",
    ["outcome"],
    registry=REGISTRY,
)
BANK_CALLS = Counter(
    "starkrelay_bank_calls",
    "Stark Bank API attempts, by gateway operation.",
    ["operation"],
    registry=REGISTRY,
)
BANK_ERRORS = Counter(
    "starkrelay_bank_errors",
    "Stark Bank API errors, by operation and kind (server_error, connection, timeout, "
    "input, unexpected).",
    ["operation", "kind"],
    registry=REGISTRY,
)
REDIS_UP = Gauge(
    "starkrelay_redis_up",
    "1 when Redis answered the last readiness probe or campaign tick, else 0.",
    registry=REGISTRY,
)
PUBLIC_KEY_LOADED = Gauge(
    "starkrelay_stark_public_key_loaded",
    "1 when the Stark Bank public key (for webhook signatures) is loaded, else 0.",
    registry=REGISTRY,
)


def render() -> bytes:
    """The registry in the Prometheus text format."""
    return generate_latest(REGISTRY)
