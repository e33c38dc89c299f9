"""The console's acting pages: dead letters (re-drive one or all), acknowledging refused
forwards and foreign events in the needs-action banner, and "Held", the outflow controls:

- the pause switch: "Pause outflow" (with a confirmation box the form requires) stops every
  replica from creating transfers; the page then says whether the pause is acknowledged (no
  create in flight). "Resume" lets them go on; each waiting forward is sent once;
- the limits and what today (and this hour) has used of them;
- the forwards held for approval (invoice linking to its story, amount, limit, since), with a
  checkbox each: one "Approve" or "Reject" acts on every box ticked, in one action.

Every action is a POST carrying the session's CSRF token and answers with a redirect back to
its page (the outcome is shown there once, failures as errors), so reloading never repeats
it. Re-drives and acknowledgements are written to the audit stream (``audit``); held
decisions and the pause are recorded as ``console:<session label>``. The code behind each is
the API's and the CLI's: ``forwarding.dead_letters.retry_dead_letter``,
``forwarding.approval.decide``, ``forwarding.pause``.
"""

from __future__ import annotations

from dataclasses import asdict
from urllib.parse import parse_qs

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
from starkrelay.console.story_steps import LIMITS
from starkrelay.core.money import brl
from starkrelay.forwarding import pause
from starkrelay.forwarding.approval import Decision, DecisionOutcome, DecisionResult, decide
from starkrelay.forwarding.dead_letters import (
    RetryOutcome,
    RetryResult,
    list_dead_letters,
    retry_dead_letters,
)
from starkrelay.forwarding.outflow import OutflowConfig, outflow_summary
from starkrelay.ledger import reads

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)

_REDRIVE_SAID = {
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
    session.flash.extend(asdict(notice) for notice in said)
    await save_session(services, session)
    response = RedirectResponse(to, status_code=303)
    response.headers.update(SECURITY_HEADERS)
    return response


def _redriven(result: RetryResult) -> Notice:
    letter = result.dead_letter
    detail = f" ({result.detail})" if result.detail else ""
    text = f"Invoice {letter.invoice_id or '?'}: {_REDRIVE_SAID[result.outcome]}{detail}"
    return Notice(text, _LEVEL[result.outcome])


@router.get("/dead-letters")
async def dead_letters_page(
    request: Request, session: PageSessionDep, services: ConsoleOnDep
) -> HTMLResponse:
    """Every dead letter, oldest first, with its reason and the ledger's last error."""
    letters = await list_dead_letters(services.store)
    pipe = services.store.redis.pipeline(transaction=False)
    for letter in letters:
        pipe.hget(services.store.keys.webhook_ledger(letter.invoice_id), "last_error")
    last_errors = await pipe.execute() if letters else []
    context = await page_context(request, services, session, "Dead letters", "dead-letters")
    context["rows"] = list(zip(letters, last_errors, strict=True))
    return page(request, "dead_letters.html", context)


@router.post("/dead-letters/redrive")
async def redrive(request: Request, session: ActionSessionDep, services: ConsoleOnDep) -> Response:
    """Re-drive the dead letter named by the form's ``dead_letter_id``, or every one with
    ``all=1``."""
    form = await read_form(request)
    letters = await list_dead_letters(services.store)
    wanted = "all" if form.get("all") == "1" else form.get("dead_letter_id", "")
    if wanted != "all":
        letters = [letter for letter in letters if letter.id == wanted]
        if not letters:
            text = (f"Dead letter {wanted or '(none named)'} is not there (already re-driven, "
                    "or never was): nothing done")  # fmt: skip
            await record_action(services.store, request, "redrive",
                                outcome="failed", detail=text, session=session.label)  # fmt: skip
            return await back(services, session, "/console/dead-letters", [Notice(text, "error")])
    try:
        results = await retry_dead_letters(services.store, services.bank, letters)
    except BankError as error:
        text = (f"Re-drive failed: Stark Bank could not be asked ({error}); nothing re-driven "
                "past that point. Try again once it answers.")  # fmt: skip
        await record_action(services.store, request, "redrive",
                            outcome="failed", detail=text, session=session.label,
                            invoice_ids=[letter.invoice_id for letter in letters])  # fmt: skip
        return await back(services, session, "/console/dead-letters", [Notice(text, "error")])
    said = [_redriven(result) for result in results] or [
        Notice("No dead letter to re-drive.", "info")
    ]
    failed = any(notice.level == "error" for notice in said)
    await record_action(
        services.store, request, "redrive",
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
    seen = await acknowledge(services.store)
    text = (
        f"Acknowledged {seen['refused']} refused forward(s) and {seen['foreign_events']} "
        "foreign event(s); the banner shows only new ones."
    )
    await record_action(services.store, request, "acknowledge",
                        detail=text, session=session.label)  # fmt: skip
    return await back(services, session, safe_next(form.get("next")), [Notice(text, "ok")])


HELD = "/console/held"
ACK_WAIT_SECONDS = 5.0
"""How long a pause from the console waits for creates in flight before it answers."""

_DECISION_SAID = {
    DecisionOutcome.APPROVED: "approved: queued again as the same attempt; the worker sends it",
    DecisionOutcome.REJECTED: "rejected: recorded, never sent",
    DecisionOutcome.NOT_HELD: "no longer held (decided before?): nothing done",
}


def who(session: ConsoleSession) -> str:
    return f"console:{session.label}"


def _decided(result: DecisionResult) -> Notice:
    amount = f" ({brl(result.amount)})" if result.amount else ""
    level = "info" if result.outcome is DecisionOutcome.NOT_HELD else "ok"
    return Notice(f"Invoice {result.invoice_id}{amount}: {_DECISION_SAID[result.outcome]}", level)


@router.get("/held")
async def held_page(
    request: Request, session: PageSessionDep, services: ConsoleOnDep
) -> HTMLResponse:
    """The pause switch, the limits and today's use of them, and every held forward."""
    config = OutflowConfig.from_settings(services.settings)
    context = await page_context(request, services, session, "Held", "held")
    context |= {
        "outflow": await outflow_summary(services.store, config),
        "held": await reads.list_held(services.store),
        "limit_names": LIMITS,
    }
    return page(request, "held.html", context)


@router.post("/held/decide")
async def decide_held(
    request: Request, session: ActionSessionDep, services: ConsoleOnDep
) -> Response:
    """Approve or reject (the form's ``decision``) every held forward ticked
    (``invoice_id``, repeated)."""
    form = await read_form(request)
    chosen = parse_qs((await request.body()).decode("utf-8", "replace")).get("invoice_id", [])
    wanted = form.get("decision", "")
    valid = wanted in {d.value for d in Decision}
    if not valid or not chosen:
        said = "Tick at least one held forward first." if valid else "Choose Approve or Reject."
        return await back(services, session, HELD, [Notice(said, "error")])
    results = await decide(services.store, chosen[:1000], Decision(wanted), who(session))
    return await back(services, session, HELD, [_decided(result) for result in results])


@router.post("/held/pause")
async def pause_outflow(
    request: Request, session: ActionSessionDep, services: ConsoleOnDep
) -> Response:
    """Pause all outflow, once the form's confirmation box is ticked."""
    form = await read_form(request)
    if form.get("confirm") != "yes":
        return await back(
            services, session, HELD, [Notice("Not paused: tick the box to confirm first.", "error")]
        )
    store = services.store
    paused_now = await pause.pause(store, who(session), form.get("reason", "")[:300])
    state = await pause.wait_acknowledged(store, ACK_WAIT_SECONDS)
    said = "Outflow paused" if paused_now else "Outflow was already paused"
    if state.acknowledged:
        said += ": no transfer is being created, and none will be until you resume."
    else:
        said += (
            f": {state.in_flight} transfer create(s) started before the pause are still in "
            "flight; no new one starts. This page says when they have ended."
        )
    return await back(services, session, HELD, [Notice(said)])


@router.post("/held/resume")
async def resume_outflow(session: ActionSessionDep, services: ConsoleOnDep) -> Response:
    """Let the workers create transfers again."""
    resumed = await pause.resume(services.store, who(session))
    said = (
        "Outflow resumed: the waiting forwards are sent, each once."
        if resumed
        else "Outflow was not paused."
    )
    return await back(services, session, HELD, [Notice(said)])
