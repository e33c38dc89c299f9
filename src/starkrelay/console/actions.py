"""The console's acting pages: dead letters (re-drive one or all) and money (the report, its
history and downloads, "Reconcile now" with its progress).

Every action is a POST carrying the session's CSRF token and answers with a redirect back to
its page (the outcome is shown there once), so reloading never repeats it. Re-driving is
``forwarding.dead_letters.retry_dead_letter``, the code behind ``starkrelay dead-letters
retry``; reconciling is ``run_reconciliation``, behind ``POST /api/v1/admin/reconcile``.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from starkrelay.api.deps import Services
from starkrelay.bank import BankError
from starkrelay.console.auth import (
    ActionSessionDep,
    ConsoleOnDep,
    ConsoleSession,
    PageSessionDep,
    read_form,
    save_session,
)
from starkrelay.console.export import report_at, report_csv, report_filename, report_json
from starkrelay.console.pages import base_context, take_flash
from starkrelay.console.reconcile_run import load_run, start_reconcile
from starkrelay.console.render import SECURITY_HEADERS, page
from starkrelay.forwarding.dead_letters import (
    RetryOutcome,
    RetryResult,
    list_dead_letters,
    retry_dead_letters,
)
from starkrelay.reconciliation.report import MoneyReport, load_report_history
from starkrelay.reconciliation.service import load_adhoc_report

router = APIRouter(prefix="/console", include_in_schema=False)

_SAID = {
    RetryOutcome.REQUEUED: "re-driven: queued again as the same attempt; the worker sends it",
    RetryOutcome.RECORDED: "Stark Bank already holds its transfer: recorded, nothing sent",
    RetryOutcome.ALREADY_RETRIED: "already re-driven (nothing done)",
    RetryOutcome.NOT_DEAD: "its ledger is no longer dead (nothing done; letter kept)",
    RetryOutcome.UNREADABLE: "the entry names no forward item (nothing done; letter kept)",
}


async def _back(services: Services, session: ConsoleSession, to: str, said: list[str]) -> Response:
    session.flash.extend(said)
    await save_session(services, session)
    response = RedirectResponse(to, status_code=303)
    response.headers.update(SECURITY_HEADERS)
    return response


def _describe(result: RetryResult) -> str:
    letter = result.dead_letter
    detail = f" ({result.detail})" if result.detail else ""
    return f"Invoice {letter.invoice_id or '?'}: {_SAID[result.outcome]}{detail}"


@router.get("/dead-letters")
async def dead_letters_page(
    request: Request, session: PageSessionDep, services: ConsoleOnDep
) -> HTMLResponse:
    """Every dead letter, oldest first, with its reason and the ledger's last error."""
    letters = await list_dead_letters(services.redis, services.keys)
    pipe = services.redis.pipeline(transaction=False)
    for letter in letters:
        pipe.hget(services.keys.webhook_ledger(letter.invoice_id), "last_error")
    last_errors = await pipe.execute() if letters else []
    context = base_context(request, session, "Dead letters", "dead-letters")
    context |= {
        "rows": list(zip(letters, last_errors, strict=True)),
        "flash": await take_flash(services, session),
    }
    return page(request, "dead_letters.html", context)


@router.post("/dead-letters/redrive")
async def redrive(request: Request, session: ActionSessionDep, services: ConsoleOnDep) -> Response:
    """Re-drive the dead letter named by the form's ``dead_letter_id``, or every one with
    ``all=1``."""
    form = await read_form(request)
    letters = await list_dead_letters(services.redis, services.keys)
    if form.get("all") != "1":
        wanted = form.get("dead_letter_id", "")
        letters = [letter for letter in letters if letter.id == wanted]
        if not letters:
            said = [f"Dead letter {wanted or '(none named)'}: already re-driven or never there"]
            return await _back(services, session, "/console/dead-letters", said)
    try:
        results = await retry_dead_letters(services.redis, services.keys, services.bank, letters)
    except BankError as error:
        said = [f"Stark Bank could not be asked ({error}); nothing re-driven past that point."]
        return await _back(services, session, "/console/dead-letters", said)
    said = [_describe(result) for result in results] or ["No dead letter to re-drive."]
    return await _back(services, session, "/console/dead-letters", said)


@router.get("/money")
async def money_page(
    request: Request, session: PageSessionDep, services: ConsoleOnDep
) -> HTMLResponse:
    """The last money report, the reconcile button and progress, the report history, and the
    last ad-hoc report (a reconcile given its own ``since``) apart from them."""
    history = await load_report_history(services.redis, services.keys)
    context = base_context(request, session, "Money", "money")
    context |= {
        "report": await report_at(services.redis, services.keys, 0),
        "adhoc": await load_adhoc_report(services.redis, services.keys),
        "history": history,
        "lines": MoneyReport.LINES,
        "run": await load_run(services),
        "flash": await take_flash(services, session),
    }
    return page(request, "money.html", context)


@router.post("/money/reconcile")
async def reconcile(session: ActionSessionDep, services: ConsoleOnDep) -> Response:
    """Start a reconciliation in the background; the money page shows its progress."""
    started = await start_reconcile(services)
    said = [] if started else ["A reconciliation started from the console is still running."]
    return await _back(services, session, "/console/money", said)


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
    report = await report_at(services.redis, services.keys, index)
    if report is None or extension not in {"csv", "json"}:
        raise HTTPException(status_code=404, detail="no such report")
    return report_download(report, extension)


def report_download(report: MoneyReport, extension: str) -> Response:
    """A file response of ``report`` as CSV or JSON (shared with the API)."""
    disposition = f'attachment; filename="{report_filename(report, extension)}"'
    headers = {"Content-Disposition": disposition, "Cache-Control": "no-store"}
    if extension == "csv":
        return Response(report_csv(report), media_type="text/csv; charset=utf-8", headers=headers)
    body = json.dumps(report_json(report), sort_keys=True, indent=2)
    return Response(body, media_type="application/json", headers=headers)
