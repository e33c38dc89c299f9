"""The console's acting pages: dead letters (re-drive one or all) and acknowledging refused
forwards and foreign events in the needs-action banner.

Every action is a POST carrying the session's CSRF token and answers with a redirect back to
its page (the outcome is shown there once, failures as errors), so reloading never repeats
it; every action is written to the audit stream (``audit``). Re-driving is
``forwarding.dead_letters.retry_dead_letter``, the code behind ``starkrelay dead-letters
retry``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from starkrelay.api.deps import Services
from starkrelay.bank import BankError
from starkrelay.console.audit import record_action
from starkrelay.console.auth import (
    ActionSessionDep,
    ConsoleOnDep,
    ConsoleSession,
    Notice,
    PageSessionDep,
    read_form,
    safe_next,
    save_session,
)
from starkrelay.console.frame import ConsoleRoute, page_context
from starkrelay.console.needs import acknowledge
from starkrelay.console.render import SECURITY_HEADERS, page
from starkrelay.forwarding.dead_letters import (
    RetryOutcome,
    RetryResult,
    list_dead_letters,
    retry_dead_letters,
)

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)

_SAID = {
    RetryOutcome.REQUEUED: "re-driven: queued again as the same attempt; the worker sends it",
    RetryOutcome.RECORDED: "Stark Bank already holds its transfer: recorded, nothing sent",
    RetryOutcome.ALREADY_RETRIED: "already re-driven (nothing done)",
    RetryOutcome.NOT_DEAD: "its ledger is no longer dead (nothing done; letter kept)",
    RetryOutcome.UNREADABLE: "the entry names no forward item (nothing done; letter kept)",
}
_LEVEL = {
    RetryOutcome.REQUEUED: "ok",
    RetryOutcome.RECORDED: "ok",
    RetryOutcome.ALREADY_RETRIED: "info",
    RetryOutcome.NOT_DEAD: "error",
    RetryOutcome.UNREADABLE: "error",
}


async def back(
    services: Services, session: ConsoleSession, to: str, said: list[Notice]
) -> Response:
    """Leave ``said`` for the page ``to`` and redirect there (303)."""
    session.flash.extend(notice.as_dict() for notice in said)
    await save_session(services, session)
    response = RedirectResponse(to, status_code=303)
    response.headers.update(SECURITY_HEADERS)
    return response


def _describe(result: RetryResult) -> Notice:
    letter = result.dead_letter
    detail = f" ({result.detail})" if result.detail else ""
    text = f"Invoice {letter.invoice_id or '?'}: {_SAID[result.outcome]}{detail}"
    return Notice(text, _LEVEL[result.outcome])


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
    context = await page_context(request, services, session, "Dead letters", "dead-letters")
    context["rows"] = list(zip(letters, last_errors, strict=True))
    return page(request, "dead_letters.html", context)


@router.post("/dead-letters/redrive")
async def redrive(request: Request, session: ActionSessionDep, services: ConsoleOnDep) -> Response:
    """Re-drive the dead letter named by the form's ``dead_letter_id``, or every one with
    ``all=1``."""
    form = await read_form(request)
    letters = await list_dead_letters(services.redis, services.keys)
    wanted = "all" if form.get("all") == "1" else form.get("dead_letter_id", "")
    if wanted != "all":
        letters = [letter for letter in letters if letter.id == wanted]
        if not letters:
            text = (f"Dead letter {wanted or '(none named)'} is not there (already re-driven, "
                    "or never was): nothing done")  # fmt: skip
            await record_action(services.redis, services.keys, request, "redrive",
                                outcome="failed", detail=text, session=session.label)  # fmt: skip
            return await back(services, session, "/console/dead-letters", [Notice(text, "error")])
    try:
        results = await retry_dead_letters(services.redis, services.keys, services.bank, letters)
    except BankError as error:
        text = (f"Re-drive failed: Stark Bank could not be asked ({error}); nothing re-driven "
                "past that point. Try again once it answers.")  # fmt: skip
        await record_action(services.redis, services.keys, request, "redrive",
                            outcome="failed", detail=text, session=session.label,
                            invoice_ids=[letter.invoice_id for letter in letters])  # fmt: skip
        return await back(services, session, "/console/dead-letters", [Notice(text, "error")])
    said = [_describe(result) for result in results] or [
        Notice("No dead letter to re-drive.", "info")
    ]
    failed = any(notice.level == "error" for notice in said)
    await record_action(
        services.redis, services.keys, request, "redrive",
        outcome="failed" if failed else "done",
        detail=f"{wanted}: " + "; ".join(notice.text for notice in said),
        invoice_ids=[r.dead_letter.invoice_id for r in results if r.dead_letter.invoice_id],
        session=session.label,
    )  # fmt: skip
    return await back(services, session, "/console/dead-letters", said)


@router.post("/acknowledge")
async def acknowledge_counts(
    request: Request, session: ActionSessionDep, services: ConsoleOnDep
) -> Response:
    """Take the refused forwards and foreign events counted so far as seen: the banner shows
    them again only when more come."""
    form = await read_form(request)
    seen = await acknowledge(services.redis, services.keys)
    text = (
        f"Acknowledged {seen['refused']} refused forward(s) and {seen['foreign_events']} "
        "foreign event(s); the banner shows only new ones."
    )
    await record_action(services.redis, services.keys, request, "acknowledge",
                        detail=text, session=session.label)  # fmt: skip
    return await back(services, session, safe_next(form.get("next")), [Notice(text, "ok")])
