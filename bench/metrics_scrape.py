"""How long a /metrics scrape takes: Redis healthy, refused, and silent (hung).

    .venv/bin/python bench/metrics_scrape.py [--scrapes 500]

Runs the API (role ``api``) in this process against a starksandbox and the Redis of
``$REDIS_URL`` (else 127.0.0.1:6379) under a throwaway key prefix, with a campaign, a money
report and 1,000 invoices in the ledger stages; scrapes sequentially over one keep-alive
connection and prints p50/p99/max in milliseconds and the body size.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import time
import uuid
from datetime import date
from typing import Any

import httpx

from starkrelay.app import create_app, open_services
from starkrelay.core.logs import configure_logging
from starkrelay.core.settings import Settings
from starkrelay.invoicing.lifecycle import start_campaign
from starkrelay.reconciliation.report import new_report, store_report
from starksandbox.testing import running_sandbox


def settings_for(sandbox: Any, redis_url: str, prefix: str, **extra: Any) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None, stark_project_id=sandbox.project_id, stark_private_key=sandbox.private_key,
        stark_api_url=sandbox.url, redis_url=redis_url, redis_key_prefix=prefix,
        log_level="ERROR", **extra,
    )  # fmt: skip


async def seed(settings: Settings) -> None:
    async with open_services(settings) as services:
        await start_campaign(services.store, settings, services.bank)
        await store_report(services.store, new_report(date.today()))
        await services.store.redis.hset(
            services.store.keys.ledger_stages(), mapping={"success": 1000}
        )


async def scrape(settings: Settings, count: int) -> tuple[list[float], int]:
    app = create_app(settings, role="api")
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://relay") as client,
    ):
        times, size = [], 0
        for _ in range(count):
            started = time.perf_counter()
            response = await client.get("/metrics")
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
            size = len(response.content)
    return times, size


def report(name: str, times: list[float], size: int) -> None:
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(f"{name:>16}: p50 {statistics.median(ordered):7.2f} ms  p99 {p99:7.2f} ms  "
          f"max {ordered[-1]:7.2f} ms  ({len(ordered)} scrapes, {size} bytes)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scrapes", type=int, default=500)
    args = parser.parse_args()
    configure_logging("ERROR", "console")  # a failed read logs a warning per scrape
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    prefix = f"bench-metrics-{uuid.uuid4().hex[:8]}"
    with running_sandbox() as sandbox, socket.socket() as silent, socket.socket() as closed:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        closed.bind(("127.0.0.1", 0))
        healthy = settings_for(sandbox, redis_url, prefix)
        asyncio.run(seed(healthy))
        report("redis healthy", *asyncio.run(scrape(healthy, args.scrapes)))
        refused = settings_for(sandbox, f"redis://127.0.0.1:{closed.getsockname()[1]}/0", prefix)
        report("redis refused", *asyncio.run(scrape(refused, max(10, args.scrapes // 10))))
        hung = settings_for(sandbox, f"redis://127.0.0.1:{silent.getsockname()[1]}/0", prefix,
                            metrics_scrape_timeout_seconds=0.5)  # fmt: skip
        report("redis silent", *asyncio.run(scrape(hung, 5)))
        asyncio.run(forget(healthy))


async def forget(settings: Settings) -> None:
    """Delete this run's keys (the Redis may be shared)."""
    async with open_services(settings) as services:
        async for key in services.store.redis.scan_iter(match=f"{settings.redis_key_prefix}:*"):
            await services.store.redis.delete(key)


if __name__ == "__main__":
    main()
