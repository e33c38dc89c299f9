""" "Reconcile now" from the console: the same ``run_reconciliation`` as
``POST /api/v1/admin/reconcile``, run in the background of the process that was asked, with
its progress kept in Redis (``Keys.console_reconcile_run``) so any replica's page shows it.

States: ``running`` (since ``started_at``; ``bank_calls`` made so far by this process),
``done`` (the report's ``generated_at``), ``failed`` (the error), ``busy`` (another run held
the lock). A run never raises out of its task; its outcome is in the record.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import structlog
from redis.exceptions import RedisError

from starkrelay.api.deps import Services
from starkrelay.api.wiring import run_reconciliation
from starkrelay.bank import BankError
from starkrelay.core import metrics
from starkrelay.reconciliation.service import ReconciliationBusy

log = structlog.get_logger(__name__)

RECORD_SECONDS = 3600
"""How long a finished run's record is shown."""
_TASKS: set[asyncio.Task[None]] = set()


def _bank_calls() -> int:
    total = 0.0
    for family in metrics.BANK_CALLS.collect():
        total += sum(s.value for s in family.samples if s.name.endswith("_total"))
    return int(total)


async def load_run(services: Services) -> dict[str, Any] | None:
    """The console's current (or last) reconciliation run, with ``elapsed`` seconds."""
    text = await services.store.redis.get(services.store.keys.console_reconcile_run())
    if not text:
        return None
    run: dict[str, Any] = json.loads(str(text))
    end = run.get("finished_at") or time.time()
    run["elapsed"] = max(0.0, float(end) - float(run.get("started_at", end)))
    if run.get("state") == "running":
        run["bank_calls"] = max(0, _bank_calls() - int(run.get("bank_calls_at_start", 0)))
    return run


async def _save(services: Services, run: dict[str, Any]) -> None:
    key = services.store.keys.console_reconcile_run()
    await services.store.redis.set(key, json.dumps(run, sort_keys=True), ex=RECORD_SECONDS)


async def start_reconcile(services: Services) -> bool:
    """Start a run in the background; False (nothing started) while one is running."""
    current = await load_run(services)
    if current is not None and current.get("state") == "running":
        return False
    run = {"state": "running", "started_at": time.time(), "bank_calls_at_start": _bank_calls()}
    await _save(services, run)
    task = asyncio.create_task(_run(services, run))
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)
    return True


async def _run(services: Services, run: dict[str, Any]) -> None:
    try:
        report = await run_reconciliation(services)
    except ReconciliationBusy as busy:
        run |= {"state": "busy", "error": str(busy)}
    except (BankError, RedisError) as error:
        log.error("console.reconcile.failed", error=str(error), kind=type(error).__name__)
        run |= {"state": "failed", "error": f"{type(error).__name__}: {error}"}
    except Exception as error:  # the record must say it ended, whatever happened
        log.exception("console.reconcile.failed")
        run |= {"state": "failed", "error": type(error).__name__}
    else:
        run |= {"state": "done", "report_generated_at": report.generated_at}
        log.info("console.reconcile.done", generated_at=report.generated_at)
    run["finished_at"] = time.time()
    run["bank_calls"] = max(0, _bank_calls() - int(run.get("bank_calls_at_start", 0)))
    try:
        await _save(services, run)
    except RedisError as error:
        log.error("console.reconcile.unrecorded", error=str(error))
