"""``GET /metrics``: this process's registry plus the shared state read from Redis now.

Any process can serve it: the app of every role includes ``metrics_router`` (the worker's on
``WORKER_METRICS_PORT``); ``create_metrics_app(store, settings, readiness)`` builds a
stand-alone app. The route reads what it needs from the app: Redis, key names and settings
through ``deps``, and ``app.state.readiness`` (a no-argument async callable naming what is
missing) when the app sets one.

What a caller may rely on:

- A scrape never answers 500 because Redis is down or slow: the shared gauges are read within
  ``METRICS_SCRAPE_TIMEOUT_SECONDS`` and, when they cannot be, the answer is still 200 with
  ``starkrelay_shared_state_up 0`` and the process's own metrics.
- ``starkrelay_ready`` is 1 exactly when the app's readiness names nothing missing (the same
  check as ``/health/ready``); it is absent when the app sets no readiness.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator

import anyio
import structlog
from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from starkrelay.api.deps import (
    SettingsDep,
    StoreDep,
    get_settings,
    get_store,
)
from starkrelay.api.http_metrics import RequestDurationMiddleware
from starkrelay.api.shared_state import SharedStateCollector, read_shared_state
from starkrelay.core.metrics import REGISTRY
from starkrelay.core.settings import Settings
from starkrelay.core.store import Store

log = structlog.get_logger("starkrelay.ops")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Readiness = Callable[[], Awaitable[list[str]]]
"""What keeps this process from serving, by name; empty when ready."""


class _ReadinessCollector:
    def __init__(self, missing: list[str]) -> None:
        self.missing = missing

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "starkrelay_ready",
            "1 when this process is ready (what /health/ready answers 200 for), else 0.",
            value=0 if self.missing else 1,
        )


class _Exposition:
    """The families of several collectors, in order, as one collector."""

    def __init__(self, *collectors: Collector) -> None:
        self.collectors = collectors

    def collect(self) -> Iterator[Metric]:
        for collector in self.collectors:
            yield from collector.collect()


async def _missing(readiness: Readiness, within: float) -> list[str]:
    try:
        with anyio.fail_after(within):
            return await readiness()
    except TimeoutError:
        return ["readiness_timeout"]
    except Exception as exc:  # a scrape must answer: report "not ready", never a 500
        log.error("metrics.readiness.failed", error=str(exc)[:300], kind=type(exc).__name__)
        return ["readiness_error"]


async def render_metrics(
    store: Store, settings: Settings, readiness: Readiness | None = None
) -> bytes:
    """The exposition for one scrape: ``REGISTRY``, ``starkrelay_ready`` (when ``readiness``
    is given) and the shared state, read now within ``METRICS_SCRAPE_TIMEOUT_SECONDS``."""
    within = settings.metrics_scrape_timeout_seconds
    collectors: list[Collector] = [REGISTRY]
    async with anyio.create_task_group() as tasks:
        if readiness is not None:
            missing: list[str] = []
            collectors.append(_ReadinessCollector(missing))

            async def probe() -> None:
                missing.extend(await _missing(readiness, within))

            tasks.start_soon(probe)
        state = await read_shared_state(store, within)
    collectors.append(SharedStateCollector(state))
    return generate_latest(_Exposition(*collectors))


metrics_router = APIRouter(tags=["operations"])


@metrics_router.get("/metrics")
async def prometheus_metrics(request: Request, store: StoreDep, settings: SettingsDep) -> Response:
    """Prometheus text exposition: this process's metrics and the shared state."""
    readiness: Readiness | None = getattr(request.app.state, "readiness", None)
    body = await render_metrics(store, settings, readiness)
    return Response(body, media_type=CONTENT_TYPE)


def create_metrics_app(
    store: Store, settings: Settings, readiness: Readiness | None = None
) -> FastAPI:
    """A small ASGI app serving ``GET /metrics`` (for a process without the API, e.g.
    ``starkrelay worker`` on its own port). It needs no lifespan: it uses ``store`` as given.
    ``readiness`` decides ``starkrelay_ready``; add health routes with ``include_router``."""
    app = FastAPI(title="starkrelay metrics", docs_url=None, redoc_url=None, openapi_url=None)

    async def given_store() -> Store:
        return store

    async def given_settings() -> Settings:
        return settings

    app.dependency_overrides = {
        get_store: given_store,
        get_settings: given_settings,
    }
    app.state.readiness = readiness
    app.add_middleware(RequestDurationMiddleware)
    app.include_router(metrics_router)
    return app
