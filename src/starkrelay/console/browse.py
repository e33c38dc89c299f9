"""The console's lists: invoices (with search, stage and campaign-slot filters, and the
per-invoice exports), webhook deliveries, and operator actions. Each reads one bounded page
from a Redis index (``listing``); each row opens its invoice's story."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from starkrelay.api.deps import Services
from starkrelay.console.audit import read_actions
from starkrelay.console.auth import ConsoleOnDep, PageSessionDep
from starkrelay.console.frame import ConsoleRoute, page_context
from starkrelay.console.invoice_export import (
    PeriodRefused,
    count_invoices,
    csv_chunks,
    json_body,
    parse_period,
)
from starkrelay.console.listing import (
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    SCAN_BUDGET,
    CursorRefused,
    delivery_page,
    invoice_page,
    slot_invoices,
    slot_map,
)
from starkrelay.console.render import SECURITY_HEADERS, page
from starkrelay.console.story_sources import find_invoice_id, looks_like_id
from starkrelay.ledger import LEDGER_STAGES

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)

STAGES = tuple(str(stage) for stage in LEDGER_STAGES)


def _page_size(limit: str) -> int:
    try:
        return max(1, min(MAX_PAGE_SIZE, int(limit))) if limit else PAGE_SIZE
    except ValueError:
        return PAGE_SIZE


async def _search(
    request: Request, services: Services, context: dict[str, object], query: str
) -> Response:
    """Open the story of the invoice ``query`` names (invoice, transfer or external id)."""
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


@router.get("/invoices")
async def invoices(
    request: Request,
    session: PageSessionDep,
    services: ConsoleOnDep,
    q: str = "",
    stage: str = "",
    slot: str = "",
    before: str = "",
    limit: str = "",
) -> Response:
    """Invoices newest first (``before``: the last invoice of the previous page), at one
    ``stage`` or of one campaign ``slot`` when given; ``q`` opens the story of the invoice an
    invoice, transfer or external id names."""
    context = await page_context(request, services, session, "Invoices", "invoices")
    query = q.strip()
    if query:
        context["title"] = "Find an invoice"
        return await _search(request, services, context | {"q": query}, query)
    store = services.store
    slots = await slot_map(store)
    counts = await store.redis.hgetall(store.keys.ledger_stages())
    count = _page_size(limit)
    default_period = parse_period(None, None)
    context |= {
        "export_start": default_period.start.isoformat(),
        "export_end": default_period.end.isoformat(),
        "stages": [(name, int(counts.get(name, 0))) for name in STAGES],
        "stage": stage, "slot": slot, "limit": count if limit else None, "slots": slots,
        "budget": SCAN_BUDGET, "total": int(await store.redis.zcard(store.keys.ledger_index())),
    }  # fmt: skip
    problem = None
    if stage and stage not in STAGES:
        problem = f"There is no stage {stage!r}; the stages are {', '.join(STAGES)}."
    elif slot and not (slot.isdigit() and slots.campaign is not None):
        problem = "A slot is a slot number of the current campaign (0, 1, 2...)."
    elif before and not looks_like_id(before):
        problem = "That page link is malformed; start from the newest."
    elif slot and slots.campaign is not None:
        rows = await slot_invoices(store, slots.campaign, int(slot), stage or None)
        return page(request, "invoices.html", context | {"rows": rows, "next_cursor": None})
    else:
        try:
            found = await invoice_page(store, before=before or None, stage=stage or None,
                                       count=count, slots=slots.by_invoice)  # fmt: skip
        except CursorRefused:
            problem = "That page's first invoice is gone from the index; start from the newest."
        else:
            context |= {"rows": found.rows, "next_cursor": found.next_cursor, "found": found}
            return page(request, "invoices.html", context)
    context |= {"error": problem, "rows": [], "next_cursor": None}
    return page(request, "invoices.html", context, status_code=400)


@router.get("/invoices.{extension}")
async def export_invoices(
    extension: str, _: PageSessionDep, services: ConsoleOnDep, start: str = "", end: str = ""
) -> Response:
    """One row per invoice first seen from ``start`` to ``end`` (São Paulo days, inclusive;
    the last 7 days by default) as ``csv`` or ``json``; 400 naming the problem for a period
    this export does not take."""
    return await invoice_export_response(services, extension, start, end)


async def invoice_export_response(
    services: Services, extension: str, start: str, end: str
) -> Response:
    """The per-invoice export as a file response (shared with the API)."""
    if extension not in {"csv", "json"}:
        return Response("no such export\n", status_code=404, media_type="text/plain")
    try:
        period = parse_period(start or None, end or None)
        await count_invoices(services.store, period)
    except PeriodRefused as refused:
        return Response(f"{refused}\n", status_code=400, media_type="text/plain; charset=utf-8",
                        headers={"Cache-Control": "no-store"})  # fmt: skip
    disposition = f'attachment; filename="{period.filename(extension)}"'
    headers = {"Content-Disposition": disposition, "Cache-Control": "no-store"}
    if extension == "csv":
        chunks = csv_chunks(services.store, period)
        return StreamingResponse(chunks, media_type="text/csv; charset=utf-8", headers=headers)
    body = await json_body(services.store, period)
    return Response(json.dumps(body), media_type="application/json", headers=headers)


async def _stream_list(
    request: Request, context: dict[str, object], read: Callable[[], Awaitable[Any]], before: str
) -> HTMLResponse:
    """The page ``context["section"]`` showing what ``read`` finds: one page of a capped
    stream (400 for a malformed page link)."""
    template = f"{context['section']}.html"
    try:
        found = await read()
    except CursorRefused:
        context |= {"error": "That page link is malformed; start from the newest.", "rows": []}
        return page(request, template, context, status_code=400)
    context |= {"rows": found.rows, "next_cursor": found.next_cursor, "before": before}
    return page(request, template, context)


@router.get("/deliveries")
async def deliveries(
    request: Request, session: PageSessionDep, services: ConsoleOnDep, before: str = ""
) -> HTMLResponse:
    """Webhook deliveries about our invoices, newest first (duplicates included)."""
    context = await page_context(request, services, session, "Webhook deliveries", "deliveries")
    read = partial(delivery_page, services.store, before or None)
    return await _stream_list(request, context, read, before)


@router.get("/actions")
async def actions(
    request: Request, session: PageSessionDep, services: ConsoleOnDep, before: str = ""
) -> HTMLResponse:
    """Operator actions (the audit log), newest first."""
    context = await page_context(request, services, session, "Operator actions", "actions")
    context["session_label"] = session.label
    read = partial(read_actions, services.store, before or None, PAGE_SIZE)
    return await _stream_list(request, context, read, before)
