"""The console's "Held" page: the outflow controls for a person.

- the pause switch: "Pause outflow" (with a confirmation box the form requires) stops every
  replica from creating transfers; the page then says whether the pause is acknowledged (no
  create in flight). "Resume" lets them go on; each waiting forward is sent once;
- the limits and what today (and this hour) has used of them;
- the forwards held for approval (invoice linking to its story, amount, limit, since), with a
  checkbox each: one "Approve" or "Reject" acts on every box ticked, in one action.

Every action is a POST carrying the session's CSRF token, recorded as ``console:<session>``
(the first 12 characters of the session's digest, as the console's logs name it), and
answers with a redirect back here (the outcome shown once). The code behind each is the
API's and the CLI's: ``forwarding.approval.decide``, ``forwarding.pause``.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from starkrelay.api.deps import Services
from starkrelay.console.actions import back
from starkrelay.console.auth import (
    ActionSessionDep,
    ConsoleOnDep,
    ConsoleSession,
    Notice,
    PageSessionDep,
    read_form,
)
from starkrelay.console.frame import page_context
from starkrelay.console.held_story import LIMITS
from starkrelay.console.render import page
from starkrelay.core.money import brl
from starkrelay.forwarding import pause
from starkrelay.forwarding.approval import Decision, DecisionOutcome, DecisionResult, decide
from starkrelay.forwarding.outflow import OutflowConfig, outflow_summary
from starkrelay.ledger import reads

router = APIRouter(prefix="/console", include_in_schema=False)

PAGE = "/console/held"
ACK_WAIT_SECONDS = 5.0
"""How long a pause from the console waits for creates in flight before it answers."""

_SAID = {
    DecisionOutcome.APPROVED: "approved: queued again as the same attempt; the worker sends it",
    DecisionOutcome.REJECTED: "rejected: recorded, never sent",
    DecisionOutcome.NOT_HELD: "no longer held (decided before?): nothing done",
}


def who(session: ConsoleSession) -> str:
    return f"console:{session.digest[:12]}"


async def _back(services: Services, session: ConsoleSession, said: list[Notice]) -> Response:
    return await back(services, session, PAGE, said)


def _describe(result: DecisionResult) -> Notice:
    amount = f" ({brl(result.amount)})" if result.amount else ""
    level = "info" if result.outcome is DecisionOutcome.NOT_HELD else "ok"
    return Notice(f"Invoice {result.invoice_id}{amount}: {_SAID[result.outcome]}", level)


@router.get("/held")
async def held_page(
    request: Request, session: PageSessionDep, services: ConsoleOnDep
) -> HTMLResponse:
    """The pause switch, the limits and today's use of them, and every held forward."""
    config = OutflowConfig.from_settings(services.settings)
    context = await page_context(request, services, session, "Held", "held")
    context |= {
        "outflow": await outflow_summary(services.redis, services.keys, config),
        "held": await reads.list_held(services.redis, services.keys),
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
    if wanted not in {d.value for d in Decision}:
        return await _back(services, session, [Notice("Choose Approve or Reject.", "error")])
    if not chosen:
        return await _back(
            services, session, [Notice("Tick at least one held forward first.", "error")]
        )
    results = await decide(
        services.redis, services.keys, chosen[:1000], Decision(wanted), who(session)
    )
    return await _back(services, session, [_describe(result) for result in results])


@router.post("/held/pause")
async def pause_outflow(
    request: Request, session: ActionSessionDep, services: ConsoleOnDep
) -> Response:
    """Pause all outflow, once the form's confirmation box is ticked."""
    form = await read_form(request)
    if form.get("confirm") != "yes":
        return await _back(
            services, session, [Notice("Not paused: tick the box to confirm first.", "error")]
        )
    redis, keys = services.redis, services.keys
    paused_now = await pause.pause(redis, keys, who(session), form.get("reason", "")[:300])
    state = await pause.wait_acknowledged(redis, keys, ACK_WAIT_SECONDS)
    said = "Outflow paused" if paused_now else "Outflow was already paused"
    if state.acknowledged:
        said += ": no transfer is being created, and none will be until you resume."
    else:
        said += (
            f": {state.in_flight} transfer create(s) started before the pause are still in "
            "flight; no new one starts. This page says when they have ended."
        )
    return await _back(services, session, [Notice(said)])


@router.post("/held/resume")
async def resume_outflow(session: ActionSessionDep, services: ConsoleOnDep) -> Response:
    """Let the workers create transfers again."""
    resumed = await pause.resume(services.redis, services.keys, who(session))
    said = (
        "Outflow resumed: the waiting forwards are sent, each once."
        if resumed
        else "Outflow was not paused."
    )
    return await _back(services, session, [Notice(said)])
