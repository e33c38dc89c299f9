"""The outflow controls over JSON, behind ``ADMIN_TOKEN`` like every admin route (404 without
a configured token, 401 for a wrong one):

- ``GET /api/v1/admin/forwards/held``: the forwards held for approval, oldest first;
- ``POST /api/v1/admin/forwards/approve`` and ``.../reject`` with ``{"invoice_ids": [...]}``:
  one decision on many held forwards (``forwarding.approval``); each result says what was
  done (``approved``, ``rejected``, or ``not_held`` when it was decided before);
- ``POST /api/v1/admin/forwards/pause`` (``{"reason": "..."}``) and ``.../resume``: the pause
  switch (``forwarding.pause``); pausing answers once the pause is acknowledged (no create in
  flight) or after ``wait_seconds``, saying which.

Each action is recorded as ``api:<client address>``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field, StringConstraints

from starkrelay.api.deps import StoreDep
from starkrelay.api.status import AdminDep
from starkrelay.forwarding import pause
from starkrelay.forwarding.approval import Decision, decide
from starkrelay.forwarding.outflow import held_row
from starkrelay.ledger import reads

router = APIRouter(tags=["operations"])

InvoiceId = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z_-]{1,64}$")]


class HeldDecision(BaseModel):
    invoice_ids: list[InvoiceId] = Field(min_length=1, max_length=1000)


class PauseRequest(BaseModel):
    reason: str = Field(default="", max_length=300)
    wait_seconds: float = Field(
        default=5.0, ge=0, le=60, description="How long to wait for creates in flight to end."
    )


def _who(request: Request) -> str:
    return f"api:{request.client.host if request.client else 'unknown'}"


@router.get("/api/v1/admin/forwards/held")
async def held_forwards(
    _: AdminDep,
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> dict[str, Any]:
    """Forwards held for a person's approval, oldest first (amounts in cents), with how many
    are held and for how much in all."""
    held = await reads.list_held(store, limit=limit)
    return {
        "invoices": await reads.held_count(store),
        "cents": await reads.held_cents(store),
        "held": [held_row(h) for h in held],
    }


async def _decide(
    request: Request, store: StoreDep, body: HeldDecision, decision: Decision
) -> dict[str, Any]:
    results = await decide(store, body.invoice_ids, decision, _who(request))
    return {"results": [result.as_dict() for result in results]}


@router.post("/api/v1/admin/forwards/approve")
async def approve_held(
    _: AdminDep, request: Request, store: StoreDep, body: HeldDecision
) -> dict[str, Any]:
    """Approve held forwards: each is enqueued again as the same attempt and sent once, past
    the limits (and counted in the day's total once Stark Bank accepts it)."""
    return await _decide(request, store, body, Decision.APPROVE)


@router.post("/api/v1/admin/forwards/reject")
async def reject_held(
    _: AdminDep, request: Request, store: StoreDep, body: HeldDecision
) -> dict[str, Any]:
    """Reject held forwards: recorded, never sent (the money report's ``rejected`` line)."""
    return await _decide(request, store, body, Decision.REJECT)


@router.post("/api/v1/admin/forwards/pause")
async def pause_outflow(
    _: AdminDep,
    request: Request,
    store: StoreDep,
    body: PauseRequest | None = None,
) -> dict[str, Any]:
    """Stop every replica from creating transfers. Forwards keep arriving and wait; nothing
    is lost. Answers with the pause state: ``acknowledged`` once no create is in flight."""
    asked = body or PauseRequest()
    paused_now = await pause.pause(store, _who(request), asked.reason)
    state = await pause.wait_acknowledged(store, asked.wait_seconds)
    return {"paused_now": paused_now, **state.as_dict()}


@router.post("/api/v1/admin/forwards/resume")
async def resume_outflow(_: AdminDep, request: Request, store: StoreDep) -> dict[str, Any]:
    """Let the workers create transfers again; each waiting forward is sent once."""
    resumed_now = await pause.resume(store, _who(request))
    return {"resumed_now": resumed_now, **(await pause.pause_state(store)).as_dict()}
