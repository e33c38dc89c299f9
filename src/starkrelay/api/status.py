"""``GET /api/v1/status`` and ``POST /api/v1/admin/reconcile``, behind ``ADMIN_TOKEN``.

Both need ``Authorization: Bearer $ADMIN_TOKEN`` (compared in constant time). Without a
configured token the endpoints do not exist (404), so a deployment that forgot the token
exposes nothing. The status body: campaign progress, invoices per forward stage, queue depth,
pending and dead letters, forwards waiting for the balance (and the last balance check), the
outflow controls (pause, limits, today's counts, held forwards), the unexplained outflow of
the last money report, the last money report and, apart, the last ad-hoc one (a reconcile
given its own ``since``; see ``reconciliation.service``).
"""

from __future__ import annotations

import hmac
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from starkrelay.api.deps import BankDep, SettingsDep, StoreDep
from starkrelay.bank.calls import BANK_HEALTH
from starkrelay.core.settings import Settings
from starkrelay.core.store import Store
from starkrelay.forwarding.outflow import OutflowConfig, outflow_summary
from starkrelay.forwarding.stream_state import stream_state
from starkrelay.invoicing.campaign import load_campaign
from starkrelay.invoicing.issuance import SlotOutcome
from starkrelay.ledger import LEDGER_STAGES as FORWARD_STAGES
from starkrelay.ledger import reads
from starkrelay.reconciliation.report import load_report
from starkrelay.reconciliation.service import (
    ReconciliationBusy,
    SinceRefused,
    load_adhoc_report,
    parse_since,
    run_reconciliation,
)

router = APIRouter(tags=["operations"])


async def require_admin(request: Request, settings: SettingsDep) -> None:
    """404 when no ``ADMIN_TOKEN`` is configured; 401 unless the Bearer token matches."""
    token = settings.admin_token
    if token is None:
        raise HTTPException(status_code=404, detail="Not Found")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    expected = token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
        raise HTTPException(
            status_code=401,
            detail="missing or wrong bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )


AdminDep = Annotated[None, Depends(require_admin)]


async def campaign_progress(store: Store) -> dict[str, Any] | None:
    """The current campaign and its slots by outcome, or None if none was started."""
    campaign = await load_campaign(store)
    if campaign is None:
        return None
    raw = await store.redis.hgetall(store.keys.campaign_slots(campaign.id))
    outcomes = [SlotOutcome.from_json(str(text)) for text in raw.values()]
    by_status: dict[str, int] = {}
    for outcome in outcomes:
        by_status[outcome.status] = by_status.get(outcome.status, 0) + 1
    now = time.time()
    return {
        "id": campaign.id,
        "slots": campaign.slots,
        "slots_resolved": len(outcomes),
        "slots_by_status": by_status,
        "invoices_issued": sum(len(o.invoice_ids) for o in outcomes),
        "next_slot_at": campaign.next_fire(now),
        "over": campaign.is_over(now),
    }


async def stark_bank_health(store: Store) -> dict[str, Any]:
    """Whether Stark Bank throttles or fails us, and since when: the forwarding's shared
    record (every replica's worker) and this process's own calls (``BANK_HEALTH``)."""
    shared = await store.redis.hgetall(store.keys.bank_health())
    if shared:
        return {
            "state": shared.get("kind", "failing"),
            "since": float(shared.get("since", 0)) or None,
            "last_failure_at": float(shared.get("last_at", 0)) or None,
            "last_error": shared.get("error"),
            "seen_by": "forwarding",
        }
    return BANK_HEALTH.as_dict() | {"seen_by": "this process"}


async def status_body(store: Store, settings: Settings | None = None) -> dict[str, Any]:
    """Everything ``GET /api/v1/status`` shows; also used by ``starkrelay status``
    (``settings`` names the limits; without them the limits show as none)."""
    config = OutflowConfig() if settings is None else OutflowConfig.from_settings(settings)
    stages = await store.redis.hgetall(store.keys.ledger_stages())
    counters = await store.redis.hgetall(store.keys.forward_counters())
    stream = await stream_state(store)
    report = await load_report(store)
    adhoc = await load_adhoc_report(store)
    dead = await store.redis.xrevrange(store.keys.forward_dead_letters(), count=20)
    waiting = await reads.list_waiting(store)
    check = await reads.last_balance_check(store)
    return {
        "stark_bank": await stark_bank_health(store),
        "campaign": await campaign_progress(store),
        "invoices_by_stage": {stage: int(stages.get(stage, 0)) for stage in FORWARD_STAGES},
        "forwarding": {
            "ownership_calls": int(counters.get("ownership_calls", 0)),
            "transfer_calls": int(counters.get("transfer_calls", 0)),
            "lookup_calls": int(counters.get("lookup_calls", 0)),
            "items_refused": int(counters.get("items_refused", 0)),
            "items_sent": int(counters.get("items_sent", 0)),
            "cents_sent": int(counters.get("cents_sent", 0)),
            "items_dead": int(counters.get("items_dead", 0)),
            "items_redriven": int(counters.get("items_redriven", 0)),
            "items_redrive_recorded": int(counters.get("items_redrive_recorded", 0)),
        },
        "queue": stream.as_dict(),
        "outflow": await outflow_summary(store, config),
        "waiting_for_balance": {
            "invoices": len(waiting),
            "cents": sum(w.amount for w in waiting),
            "oldest_since": waiting[0].since if waiting else None,
            "items_released": int(counters.get("items_released", 0)),
            "last_check": check or None,
        },
        "unexplained_outflow": None
        if report is None
        else {
            "cents": report.unexplained_outflow,
            "transfers": len(report.unexplained),
            "findings": report.unexplained,
        },
        "dead_letters": [{"id": entry_id, **(fields or {})} for entry_id, fields in dead or []],
        "last_reconciliation": None if report is None else report.__dict__,
        "last_adhoc_reconciliation": None if adhoc is None else adhoc.__dict__,
    }


@router.get("/api/v1/status")
async def status(_: AdminDep, store: StoreDep, settings: SettingsDep) -> dict[str, Any]:
    """Campaign progress, counts per stage, queue depth, outflow controls, dead letters,
    last money report."""
    return await status_body(store, settings)


@router.post("/api/v1/admin/reconcile")
async def reconcile_now(
    _: AdminDep,
    store: StoreDep,
    bank: BankDep,
    settings: SettingsDep,
    since: Annotated[
        str | None,
        Query(
            description="First day (YYYY-MM-DD), from 2000-01-01 to today. Given, the run is "
            "ad-hoc: its report is kept apart and does not replace the last (daily) report."
        ),
    ] = None,
) -> JSONResponse:
    """Run a reconciliation now and return its money report, with ``kind``: ``daily`` (the
    default window; it becomes the last report) or ``ad-hoc`` (``since`` given). 400 for a
    ``since`` that is malformed or out of range, 409 if a run is going on."""
    try:
        first_day = None if since is None else parse_since(since)
        report = await run_reconciliation(store, bank, settings, first_day)
    except SinceRefused as exc:
        return JSONResponse({"detail": str(exc)}, status_code=400)
    except ReconciliationBusy as exc:
        return JSONResponse({"detail": str(exc)}, status_code=409)
    return JSONResponse({"kind": "daily" if since is None else "ad-hoc", **report.__dict__})
