"""The console's reading pages: the overview (and its live fragment), invoice search and
one invoice's story."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from starkrelay.api.deps import Services
from starkrelay.console.auth import ConsoleOnDep, ConsoleSession, PageSessionDep, save_session
from starkrelay.console.overview import build_overview
from starkrelay.console.render import SECURITY_HEADERS, page
from starkrelay.console.story_sources import find_invoice_id, gather_story, looks_like_id
from starkrelay.reconciliation.report import MoneyReport

router = APIRouter(prefix="/console", include_in_schema=False)


async def take_flash(services: Services, session: ConsoleSession) -> list[str]:
    """The messages left for this page by the last action (shown once)."""
    messages = list(session.flash)
    if messages:
        session.flash.clear()
        await save_session(services, session)
    return messages


def base_context(
    request: Request, session: ConsoleSession, title: str, section: str
) -> dict[str, object]:
    app = request.app
    return {
        "title": title,
        "section": section,
        "csrf": session.csrf,
        "docs_url": getattr(app, "docs_url", None),
        "lines": MoneyReport.LINES,
        "metrics_url": "/metrics",
    }


@router.get("")
async def overview_page(
    request: Request, session: PageSessionDep, services: ConsoleOnDep
) -> HTMLResponse:
    """The overview; its live part refreshes itself every ``CONSOLE_REFRESH_SECONDS``."""
    context = base_context(request, session, "Overview", "overview")
    context |= {
        "o": await build_overview(services),
        "refresh": services.settings.console_refresh_seconds,
        "flash": await take_flash(services, session),
    }
    return page(request, "overview.html", context)


@router.get("/live")
async def overview_live(
    request: Request, session: PageSessionDep, services: ConsoleOnDep
) -> HTMLResponse:
    """The overview's live part alone (what the page swaps in when it refreshes)."""
    context = base_context(request, session, "Overview", "overview")
    context |= {
        "o": await build_overview(services),
        "refresh": services.settings.console_refresh_seconds,
    }
    return page(request, "_overview_live.html", context)


@router.get("/invoices")
async def search(
    request: Request, session: PageSessionDep, services: ConsoleOnDep, q: str = ""
) -> Response:
    """Find an invoice by invoice id, transfer id or external id; open its story."""
    query = q.strip()
    context = base_context(request, session, "Find an invoice", "invoices") | {"q": query}
    if not query:
        return page(request, "search.html", context)
    if not looks_like_id(query):
        context["error"] = "An id has only letters, digits, '-' or '_' (up to 64)."
        return page(request, "search.html", context, status_code=400)
    invoice_id = await find_invoice_id(services, query)
    if invoice_id is None:
        context["error"] = (
            f"No invoice, forward transfer or external id {query!r} is known to starkrelay "
            "or Stark Bank."
        )
        return page(request, "search.html", context, status_code=404)
    response = RedirectResponse(f"/console/invoices/{invoice_id}", status_code=303)
    response.headers.update(SECURITY_HEADERS)
    return response


@router.get("/invoices/{invoice_id}")
async def story_page(
    invoice_id: str, request: Request, session: PageSessionDep, services: ConsoleOnDep
) -> HTMLResponse:
    """One invoice's story, oldest step first."""
    if not looks_like_id(invoice_id):
        raise HTTPException(status_code=404, detail="Not Found")
    story = await gather_story(services, invoice_id)
    context = base_context(request, session, f"Invoice {invoice_id}", "invoices")
    context |= {"story": story, "invoice_id": invoice_id, "q": invoice_id}
    if story is None:
        context["error"] = f"Neither starkrelay nor Stark Bank knows invoice {invoice_id}."
        return page(request, "search.html", context, status_code=404)
    return page(request, "story.html", context)
