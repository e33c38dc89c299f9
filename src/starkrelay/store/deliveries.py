"""Webhook deliveries per invoice: what arrived, when, and what was made of it.

One capped list per invoice (``Keys.webhook_deliveries``), appended after each event about
that invoice is taken (including the ones refused as duplicates), so a person can see every
delivery next to the invoice's money record. Informational only: no money decision reads it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starkrelay.store.connection import Redis
from starkrelay.store.keys import Keys

DELIVERIES_KEPT = 50
"""The newest deliveries kept per invoice."""


async def record_delivery(
    redis: Redis,
    keys: Keys,
    invoice_id: str,
    delivery: Mapping[str, str | int | float | None],
    *,
    ttl_seconds: int,
) -> None:
    """Append ``delivery`` to the invoice's list (one round trip); the list keeps the newest
    ``DELIVERIES_KEPT`` and lives ``ttl_seconds`` after its last change."""
    key = keys.webhook_deliveries(invoice_id)
    pipe = redis.pipeline(transaction=True)
    pipe.rpush(key, json.dumps(dict(delivery), sort_keys=True))
    pipe.ltrim(key, -DELIVERIES_KEPT, -1)
    pipe.expire(key, ttl_seconds)
    await pipe.execute()


async def load_deliveries(redis: Redis, keys: Keys, invoice_id: str) -> list[dict[str, Any]]:
    """The invoice's recorded deliveries, oldest first (unreadable entries are skipped)."""
    raw = await redis.lrange(keys.webhook_deliveries(invoice_id), 0, -1)
    found: list[dict[str, Any]] = []
    for text in raw or []:
        try:
            item = json.loads(str(text))
        except ValueError:
            continue
        if isinstance(item, dict):
            found.append(item)
    return found
