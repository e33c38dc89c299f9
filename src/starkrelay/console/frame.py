"""What every console page carries around its own content: the navigation, the session's CSRF
token, the notices the last action left, and the needs-action banner; and what a page shows
when Redis does not answer.

``ConsoleRoute`` is the route class of every console router: a Redis error anywhere in a
page (its session included) becomes a 503 page whose banner says Redis does not answer,
instead of a bare 500; an htmx request gets the banner alone, retargeted to the page's banner,
which keeps asking until Redis answers again.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import structlog
from fastapi import Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from redis.exceptions import RedisError

from starkrelay.api.deps import Services
from starkrelay.console.auth import ConsoleSession, Notice, save_session
from starkrelay.console.needs import Need, judge, read_facts
from starkrelay.console.render import page
from starkrelay.core.supervision import Supervisor
from starkrelay.reconciliation.report import MoneyReport

log = structlog.get_logger(__name__)


async def take_flash(services: Services, session: ConsoleSession) -> list[Notice]:
    """The notices left for this page by the last action (shown once)."""
    notices = [Notice.from_stored(stored) for stored in session.flash]
    if notices:
        session.flash.clear()
        await save_session(services, session)
    return notices


def base_context(
    request: Request, session: ConsoleSession, title: str, section: str
) -> dict[str, object]:
    """What a page or fragment of a signed-in person needs besides its own content."""
    return {
        "title": title,
        "section": section,
        "csrf": session.csrf,
        "docs_url": getattr(request.app, "docs_url", None),
        "lines": MoneyReport.LINES,
        "metrics_url": "/metrics",
    }


async def needs_now(request: Request, services: Services) -> list[Need]:
    """What needs a person now (the banner's items)."""
    supervisor: Supervisor | None = getattr(request.app.state, "supervisor", None)
    facts = await read_facts(
        services.store, supervisor, services.settings.forward_claim_idle_seconds
    )
    return judge(facts)


async def page_context(
    request: Request, services: Services, session: ConsoleSession, title: str, section: str
) -> dict[str, object]:
    """``base_context`` with the banner's items and the notices left for this page."""
    return base_context(request, session, title, section) | {
        "needs": await needs_now(request, services),
        "flash": await take_flash(services, session),
        "refresh": services.settings.console_refresh_seconds,
        "here": request.url.path,
    }


REDIS_DOWN = "Redis does not answer"


def redis_down(request: Request, error: RedisError) -> Response:
    """The 503 page (or, for htmx, the banner alone) shown while Redis does not answer."""
    need = Need(
        "redis", "error", REDIS_DOWN,
        f"nothing can be read or changed until it does ({type(error).__name__}); check the "
        "Redis server and REDIS_URL; Stark Bank's events wait and are retried",
        "/health/ready", "Check readiness",
    )  # fmt: skip
    context = {"title": REDIS_DOWN, "needs": [need], "section": "", "poll": True}
    if request.headers.get("hx-request") == "true":  # whatever htmx asked for: the banner
        headers = {"HX-Retarget": "#needs", "HX-Reswap": "outerHTML"}
        return page(request, "_needs.html", context, status_code=503, headers=headers)
    return page(request, "unavailable.html", context, status_code=503)


class ConsoleRoute(APIRoute):
    """A console route: Redis errors become ``redis_down`` (see the module docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except RedisError as error:
                log.error("console.redis_unavailable", path=request.url.path, error=str(error))
                return redis_down(request, error)

        return guarded
