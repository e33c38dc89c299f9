"""Webhook deliveries per invoice: what arrived, when, and what was made of it.

One capped list per invoice (``Keys.webhook_deliveries``), appended after each event about
that invoice is taken (including the ones refused as duplicates), so a person can see every
delivery next to the invoice's money record; the same delivery goes, in the same script, to
one capped stream of every invoice's deliveries (``Keys.webhook_delivery_log``), which the
console pages through newest first. Informational only: no money decision reads either.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starkrelay.core.store.connection import Store

DELIVERIES_KEPT = 50
"""The newest deliveries kept per invoice."""
DELIVERY_LOG_KEPT = 10_000
"""About this many of the newest deliveries kept in the stream of all of them."""


# KEYS: the invoice's delivery list, the stream of all deliveries.
# ARGV: the delivery's JSON, entries kept, ttl seconds, entries kept in the stream, invoice id.
_RECORD_DELIVERY_LUA = """
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'invoice_id', ARGV[5],
  'delivery', ARGV[1])
return 1
"""


async def record_delivery(
    store: Store,
    invoice_id: str,
    delivery: Mapping[str, str | int | float | None],
    *,
    ttl_seconds: int,
) -> None:
    """Append ``delivery`` to the invoice's list and to the stream of all deliveries in one
    atomic script; the list keeps the newest ``DELIVERIES_KEPT`` and lives ``ttl_seconds``
    after its last change, the stream keeps about ``DELIVERY_LOG_KEPT``. Concurrent calls
    share one pipeline per event-loop tick (``store.batching``)."""
    await store.batcher(_RECORD_DELIVERY_LUA, 2).run(
        store.keys.webhook_deliveries(invoice_id),
        store.keys.webhook_delivery_log(),
        json.dumps(dict(delivery), sort_keys=True),
        DELIVERIES_KEPT,
        ttl_seconds,
        DELIVERY_LOG_KEPT,
        invoice_id,
    )


async def load_deliveries(store: Store, invoice_id: str) -> list[dict[str, Any]]:
    """The invoice's recorded deliveries, oldest first (unreadable entries are skipped)."""
    raw = await store.redis.lrange(store.keys.webhook_deliveries(invoice_id), 0, -1)
    found: list[dict[str, Any]] = []
    for text in raw or []:
        try:
            item = json.loads(str(text))
        except ValueError:
            continue
        if isinstance(item, dict):
            found.append(item)
    return found
