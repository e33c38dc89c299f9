"""The console's data as JSON and files, for scripts: ``Authorization: Bearer $ADMIN_TOKEN``
like the other admin endpoints (404 when no token is configured, 401 for a wrong one).

- ``GET /api/v1/invoices/{invoice_id}``: the invoice's story (summary and timeline);
- ``GET /api/v1/report.json`` and ``GET /api/v1/report.csv``: the last money report, or with
  ``?index=n`` the n-th newest of the history;
- ``GET /api/v1/reports``: the history, newest first (the report lines of each);
- ``GET /api/v1/invoices.csv`` and ``GET /api/v1/invoices.json``: one row per invoice first
  seen from ``start`` to ``end`` (São Paulo days; ``console.invoice_export``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response

from starkrelay.api.deps import ServicesDep
from starkrelay.api.status import AdminDep
from starkrelay.console.browse import invoice_export_response
from starkrelay.console.export import report_json
from starkrelay.console.money import report_file
from starkrelay.console.story_sources import gather_story, looks_like_id
from starkrelay.reconciliation.report import load_report_history

router = APIRouter(tags=["console"])

IndexQuery = Annotated[
    int, Query(ge=0, le=1000, description="0: the last report; n: the n-th newest before it")
]
NO_REPORT = "no money report yet: run a reconciliation"


@router.get(
    "/api/v1/invoices.{extension}",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {}, "application/json": {}}},
        400: {"description": "a period this export does not take (the body says why)"},
    },
)
async def invoices_export(
    extension: str, _: AdminDep, services: ServicesDep, start: str = "", end: str = ""
) -> Response:
    """One row per invoice first seen from ``start`` to ``end`` (``YYYY-MM-DD``, São Paulo
    days, inclusive; the last 7 days by default; at most 92 days and 50,000 invoices) as
    ``csv`` or ``json``: amounts in cents (gross, fee, reversed, net, forwarded), stage,
    attempt, external id, the forward transfer's id and status, and times in UTC."""
    return await invoice_export_response(services, extension, start, end)


@router.get("/api/v1/invoices/{invoice_id}")
async def invoice_story(invoice_id: str, _: AdminDep, services: ServicesDep) -> dict[str, Any]:
    """One invoice's story: a summary (status, amounts, forward stage, transfers, deliveries)
    and every step in time order, each with ``at`` (UTC), ``source`` (``stark_bank``,
    ``webhook`` or ``starkrelay``), ``kind``, ``title`` and ``details``. 404 when neither
    starkrelay nor Stark Bank knows the invoice."""
    story = await gather_story(services, invoice_id) if looks_like_id(invoice_id) else None
    if story is None:
        raise HTTPException(status_code=404, detail=f"no invoice {invoice_id!r}")
    return story.as_dict()


@router.get(
    "/api/v1/report.json",
    responses={404: {"description": "no reconciliation has run yet (or no such index)"}},
)
async def report_as_json(_: AdminDep, services: ServicesDep, index: IndexQuery = 0) -> Response:
    """The money report as JSON (amounts in cents)."""
    return await report_file(services, index, "json", NO_REPORT)


@router.get(
    "/api/v1/report.csv",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {}}, "description": "record,name,value,invoice_id,problem"},
        404: {"description": "no reconciliation has run yet (or no such index)"},
    },
)
async def report_as_csv(_: AdminDep, services: ServicesDep, index: IndexQuery = 0) -> Response:
    """The money report as CSV: ``meta``, ``total`` (cents per money line), ``count`` and
    ``disagreement`` records."""
    return await report_file(services, index, "csv", NO_REPORT)


@router.get("/api/v1/reports")
async def report_history(_: AdminDep, services: ServicesDep) -> list[dict[str, Any]]:
    """Past money reports, newest first (``RECONCILE_REPORT_HISTORY`` are kept)."""
    return [report_json(r) for r in await load_report_history(services.store)]
