"""The console's reading pages: the overview (and its live fragment), one invoice's story, and
the needs-action banner as a fragment (each page's banner refreshes itself from it)."""

from __future__ import annotations

from urllib.parse import urlparse

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from starkrelay.api.deps import Services
from starkrelay.console.auth import ConsoleOnDep, PageSessionDep
from starkrelay.console.frame import ConsoleRoute, base_context, needs_now, page_context
from starkrelay.console.overview import build_overview
from starkrelay.console.render import page
from starkrelay.console.story_sources import gather_story, looks_like_id

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)


async def _overview(services: Services) -> dict[str, object]:
    return {
        "o": await build_overview(services),
        "refresh": services.settings.console_refresh_seconds,
    }


@router.get("")
async def overview_page(
    request: Request, session: PageSessionDep, services: ConsoleOnDep
) -> HTMLResponse:
    """The overview; its live part refreshes itself every ``CONSOLE_REFRESH_SECONDS``."""
    context = await page_context(request, services, session, "Overview", "overview")
    return page(request, "overview.html", context | await _overview(services))


@router.get("/live")
async def overview_live(
    request: Request, session: PageSessionDep, services: ConsoleOnDep
) -> HTMLResponse:
    """The overview's live part alone (what the page swaps in when it refreshes)."""
    context = base_context(request, session, "Overview", "overview")
    return page(request, "_overview_live.html", context | await _overview(services))


@router.get("/needs-action")
async def needs_action(
    request: Request, session: PageSessionDep, services: ConsoleOnDep
) -> HTMLResponse:
    """The needs-action banner alone (every page's banner fetches it again every
    ``CONSOLE_REFRESH_SECONDS``)."""
    context = base_context(request, session, "Needs action", "")
    context["needs"] = await needs_now(request, services)
    context["refresh"] = services.settings.console_refresh_seconds
    context["here"] = urlparse(request.headers.get("hx-current-url", "")).path or "/console"
    return page(request, "_needs.html", context)


@router.get("/invoices/{invoice_id}")
async def story_page(
    invoice_id: str, request: Request, session: PageSessionDep, services: ConsoleOnDep
) -> HTMLResponse:
    """One invoice's story, oldest step first."""
    if not looks_like_id(invoice_id):
        raise HTTPException(status_code=404, detail="Not Found")
    story = await gather_story(services, invoice_id)
    context = await page_context(request, services, session, f"Invoice {invoice_id}", "invoices")
    context |= {"story": story, "invoice_id": invoice_id, "q": invoice_id}
    if story is None:
        context["error"] = f"Neither starkrelay nor Stark Bank knows invoice {invoice_id}."
        return page(request, "search.html", context, status_code=404)
    return page(request, "story.html", context)
