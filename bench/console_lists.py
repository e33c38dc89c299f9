"""How fast the console's lists answer with 10,000 invoices in Redis.

    .venv/bin/python bench/console_lists.py [--invoices 10000] [--requests 40]

Runs the API (role ``api``) in this process against a starksandbox and the Redis of
``$REDIS_URL`` (else 127.0.0.1:6379) under a throwaway key prefix. Seeds the ledger through the
real scripts (every invoice enqueued by ``ledger.intake``, then most settled ``success``, some
``failed``, ``skipped`` and ``refused``), as many webhook deliveries (``store.record_delivery``),
2,000 operator actions and a current campaign of 8 slots of 10 invoices; signs in like a
browser and asks each page ``--requests`` times over one keep-alive connection, printing
p50 / p95 / max in milliseconds and the body size, then each export of the day's invoices a
few times. Printed figures only: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from datetime import datetime
from typing import Any

import httpx

from starkrelay import ledger
from starkrelay.app import create_app, open_services
from starkrelay.console.audit import AUDIT_KEPT
from starkrelay.console.render import SAO_PAULO
from starkrelay.core.logs import configure_logging
from starkrelay.core.settings import Settings
from starkrelay.core.store import Store, record_delivery
from starkrelay.invoicing.campaign import Campaign
from starkrelay.invoicing.issuance import SlotOutcome
from starkrelay.ledger import Evidence, Settlement, Stage
from starkrelay.ledger.identity import ForwardItem
from starksandbox.testing import running_sandbox

TOKEN = "bench-console-admin-token-5e1f"  # noqa: S105 (a throwaway token)
CHUNK = 500


def settings_for(sandbox: Any, redis_url: str, prefix: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None, stark_project_id=sandbox.project_id, stark_private_key=sandbox.private_key,
        stark_api_url=sandbox.url, redis_url=redis_url, redis_key_prefix=prefix,
        admin_token=TOKEN, log_level="ERROR",
    )  # fmt: skip


def stage_of(n: int) -> tuple[Stage, Evidence] | None:
    """Most invoices settled, a few in every other stage, 1 in 20 left queued."""
    if n % 20 == 0:
        return None
    if n % 97 == 0:
        return Stage.REFUSED, Evidence.OWNERSHIP
    if n % 53 == 0:
        return Stage.SKIPPED, Evidence.OWNERSHIP
    if n % 31 == 0:
        return Stage.FAILED, Evidence.OUR_TRANSFER
    return Stage.SUCCESS, Evidence.OUR_TRANSFER


async def seed_invoice(store: Store, n: int, now: float) -> None:
    invoice_id = f"{5_000_000_000_000_000 + n}"
    item = ForwardItem(invoice_id, 4_950 + n % 1000, 5_000 + n % 1000, 50)
    await ledger.intake(
        store, event_id=None, event_ttl_seconds=0, action="forward",
        invoice_id=invoice_id, now=now, stream_fields=item.to_fields(),
        ledger_fields={"credited_at": f"{now:.6f}"},
    )  # fmt: skip
    await record_delivery(
        store, invoice_id,
        {"event_id": f"e{n}", "at": now, "subscription": "invoice", "log_type": "credited",
         "outcome": "enqueued", "source": "webhook"},
        ttl_seconds=3600,
    )  # fmt: skip
    settled = stage_of(n)
    if settled is None:
        return
    stage, evidence = settled
    fields: dict[str, str | int] = {
        "amount": item.amount, "gross_amount": item.gross_amount, "fee": item.fee,
        "transfer:0": f"{6_000_000_000_000_000 + n}", "transfer_status:0": str(stage),
    }  # fmt: skip
    step = Settlement("", invoice_id, 0, stage, evidence, item.amount, now, fields)
    await ledger.settle(store, [step])


async def seed(settings: Settings, invoices: int) -> None:
    async with open_services(settings) as services:
        store = services.store
        start = time.time() - invoices
        for first in range(0, invoices, CHUNK):
            last = min(invoices, first + CHUNK)
            await asyncio.gather(*(seed_invoice(store, n, start + n) for n in range(first, last)))
        # the current campaign: 8 slots of 10 of the newest invoices
        campaign = Campaign("bench", t0=start, interval=invoices / 8, slots=8, grace=60.0)
        await store.redis.set(store.keys.campaign(), campaign.to_json())
        for slot in range(8):
            ids = tuple(
                f"{5_000_000_000_000_000 + invoices - 1 - slot * 10 - k}" for k in range(10)
            )
            outcome = SlotOutcome(slot, "issued", campaign.fire_at(slot), ids)
            await store.redis.hset(
                store.keys.campaign_slots(campaign.id), str(slot), outcome.to_json()
            )
        pipe = store.redis.pipeline(transaction=False)
        for n in range(2_000):
            pipe.xadd(
                store.keys.console_audit(),
                {"action": "redrive" if n % 3 else "signin", "outcome": "done",
                 "detail": f"bench action {n}", "session": "0123456789ab",
                 "client": "127.0.0.1", "invoices": ""},
                maxlen=AUDIT_KEPT, approximate=True,
            )  # fmt: skip
        await pipe.execute()


Timings = list[tuple[str, list[float], int]]


async def measure(settings: Settings, pages: list[str], requests: int) -> Timings:
    app = create_app(settings, role="api")
    transport = httpx.ASGITransport(app)
    results = []
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://relay") as client,
    ):
        form = (await client.get("/console/signin")).cookies["starkrelay_console_signin"]
        signed = await client.post(
            "/console/signin", data={"token": TOKEN, "form_token": form, "next": "/console"}
        )
        assert signed.status_code == 303, signed.text
        for path in pages:
            times, size = [], 0
            for _ in range(requests):
                started = time.perf_counter()
                response = await client.get(path)
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, (path, response.status_code)
                size = len(response.content)
            results.append((path, times, size))
    return results


async def deep_cursors(settings: Settings) -> tuple[str, str]:
    """The invoice at rank 9,000 (newest first) and a delivery as deep."""
    async with open_services(settings) as services:
        store = services.store
        total = int(await store.redis.zcard(store.keys.ledger_index()))
        [invoice_id] = await store.redis.zrevrange(
            store.keys.ledger_index(), total * 9 // 10, total * 9 // 10
        )
        deliveries = await store.redis.xrevrange(
            store.keys.webhook_delivery_log(), count=total * 9 // 10
        )
        return str(invoice_id), str(deliveries[-1][0])


async def forget(settings: Settings) -> None:
    """Delete this run's keys (the Redis may be shared)."""
    async with open_services(settings) as services:
        async for key in services.store.redis.scan_iter(match=f"{settings.redis_key_prefix}:*"):
            await services.store.redis.unlink(key)


def report(path: str, times: list[float], size: int) -> None:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    print(f"{path:<58} p50 {statistics.median(ordered):7.1f} ms  p95 {p95:7.1f} ms  "
          f"max {ordered[-1]:7.1f} ms  {size:>9,} bytes")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    configure_logging("ERROR", "console")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    prefix = f"bench-console-{uuid.uuid4().hex[:8]}"
    today = datetime.now(SAO_PAULO).date().isoformat()
    with running_sandbox() as sandbox:
        settings = settings_for(sandbox, redis_url, prefix)
        try:
            started = time.perf_counter()
            asyncio.run(seed(settings, args.invoices))
            took = time.perf_counter() - started
            print(f"seeded {args.invoices:,} invoices and deliveries in {took:.1f} s")
            invoice, delivery = asyncio.run(deep_cursors(settings))
            pages = [
                "/console/invoices",
                f"/console/invoices?before={invoice}",
                "/console/invoices?limit=200",
                "/console/invoices?stage=success",
                "/console/invoices?stage=refused",
                "/console/invoices?stage=waiting",
                "/console/deliveries",
                f"/console/deliveries?before={delivery}",
                "/console/actions",
                "/console/invoices?slot=3",
                "/console/needs-action",
                "/console",
            ]
            for row in asyncio.run(measure(settings, pages, args.requests)):
                report(*row)
            export = [f"/console/invoices.csv?start={today}&end={today}",
                      f"/console/invoices.json?start={today}&end={today}"]  # fmt: skip
            for row in asyncio.run(measure(settings, export, max(3, args.requests // 10))):
                report(*row)
        finally:
            asyncio.run(forget(settings))


if __name__ == "__main__":
    main()
