"""The money page: Stark Bank's balance, the last money report with its equation written out
and a verdict, "Reconcile now" with its progress, the report history with a chart of credited
against forwarded per day, the last ad-hoc report apart, and the report downloads.

Reconciling is ``run_reconciliation``, the code behind ``POST /api/v1/admin/reconcile``; the
balance is ``BankGateway.get_balance`` kept a few seconds (``balance``), loaded by the page
after it is shown, so a slow Stark Bank never holds the page.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from starkrelay.api.deps import Services
from starkrelay.console.actions import back
from starkrelay.console.audit import record_action
from starkrelay.console.auth import ActionSessionDep, ConsoleOnDep, Notice, PageSessionDep
from starkrelay.console.balance import read_balance
from starkrelay.console.export import report_at, report_csv, report_filename, report_json
from starkrelay.console.frame import ConsoleRoute, base_context, page_context
from starkrelay.console.money_view import TERMS, daily_chart, equation
from starkrelay.console.reconcile_run import load_run, start_reconcile
from starkrelay.console.render import page
from starkrelay.reconciliation.report import load_report_history
from starkrelay.reconciliation.service import load_adhoc_report

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)


@router.get("/money")
async def money_page(
    request: Request, session: PageSessionDep, services: ConsoleOnDep
) -> HTMLResponse:
    """The balance card (loaded after the page), the last report and its equation, the
    reconcile button and progress, the history and its chart, the last ad-hoc report."""
    history = await load_report_history(services.store)
    report = await report_at(services.store, 0)
    adhoc = await load_adhoc_report(services.store)
    context = await page_context(request, services, session, "Money", "money")
    context |= {
        "report": report,
        "equation": equation(report) if report else None,
        "adhoc": adhoc,
        "adhoc_equation": equation(adhoc) if adhoc else None,
        "history": [(past, equation(past)) for past in history],
        "chart": daily_chart(history),
        "terms": TERMS,
        "run": await load_run(services),
    }
    return page(request, "money.html", context)


@router.get("/money/balance")
async def balance(
    request: Request, session: PageSessionDep, services: ConsoleOnDep, fresh: str = ""
) -> HTMLResponse:
    """The balance card alone; ``fresh=1`` reads Stark Bank again (a person asked)."""
    reading = await read_balance(services.bank, services.store.keys.prefix, fresh=fresh == "1")
    context = base_context(request, session, "Money", "money") | {"balance": reading}
    return page(request, "_balance.html", context)


@router.post("/money/reconcile")
async def reconcile(
    request: Request, session: ActionSessionDep, services: ConsoleOnDep
) -> Response:
    """Start a reconciliation in the background; the money page shows its progress."""
    started = await start_reconcile(services)
    await record_action(
        services.store, request, "reconcile",
        outcome="done" if started else "refused",
        detail="started" if started else "one started from the console is still running",
        session=session.label,
    )  # fmt: skip
    said = (
        []
        if started
        else [Notice("A reconciliation started from the console is still running.", "info")]
    )
    return await back(services, session, "/console/money", said)


@router.get("/money/progress")
async def progress(
    request: Request, session: PageSessionDep, services: ConsoleOnDep
) -> HTMLResponse:
    """The run's progress fragment; once the run ended it asks htmx to reload the page."""
    run = await load_run(services)
    headers = {"HX-Refresh": "true"} if run and run.get("state") != "running" else None
    context = base_context(request, session, "Money", "money") | {"run": run}
    return page(request, "_reconcile_progress.html", context, headers=headers)


@router.get("/money/report.{extension}")
async def download(
    extension: str, session: PageSessionDep, services: ConsoleOnDep, index: int = 0
) -> Response:
    """The report ``index`` of the history (0: the last) as ``csv`` or ``json``."""
    return await report_file(services, index, extension, missing="no such report")


async def report_file(services: Services, index: int, extension: str, missing: str) -> Response:
    """Report ``index`` of the history as a ``csv`` or ``json`` file (shared with the API);
    404 saying ``missing`` when there is no such report or file type."""
    report = await report_at(services.store, index)
    if report is None or extension not in {"csv", "json"}:
        raise HTTPException(status_code=404, detail=missing)
    disposition = f'attachment; filename="{report_filename(report, extension)}"'
    headers = {"Content-Disposition": disposition, "Cache-Control": "no-store"}
    if extension == "csv":
        return Response(report_csv(report), media_type="text/csv; charset=utf-8", headers=headers)
    body = json.dumps(report_json(report), sort_keys=True, indent=2)
    return Response(body, media_type="application/json", headers=headers)
