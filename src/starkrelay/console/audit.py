"""Operator actions, kept for people to read back: what was done, when, its outcome, by which
console session and from which client address.

One capped stream (``Keys.console_audit``, about ``AUDIT_KEPT`` newest entries): each entry's
id is its time. Written by the console's actions (sign-in and its refusals, sign-out,
re-drives, reconciliations, acknowledgements) after the action; an entry that cannot be
written is logged and never undoes or blocks the action.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from fastapi import Request
from redis.exceptions import RedisError
from redis.typing import EncodableT, FieldT

from starkrelay.console.listing import StreamPage, stream_page
from starkrelay.core.store import Store

log = structlog.get_logger(__name__)

AUDIT_KEPT = 10_000
"""About this many of the newest actions are kept."""


@dataclass(frozen=True)
class Action:
    """One recorded action."""

    id: str
    action: str
    """``signin``, ``signin_refused``, ``signin_link``, ``signout``, ``redrive``,
    ``reconcile``, ``acknowledge``."""
    outcome: str
    """``done``, ``refused`` or ``failed``."""
    detail: str
    session: str
    """The session's label (start of its digest), or "" before there is one."""
    client: str
    invoice_ids: tuple[str, ...] = ()
    """The invoices the action was about (a re-drive's)."""

    @property
    def at(self) -> float:
        return int(self.id.split("-")[0]) / 1000


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


async def record_action(
    store: Store,
    request: Request,
    action: str,
    *,
    outcome: str = "done",
    detail: str = "",
    session: str = "",
    invoice_ids: Sequence[str] = (),
) -> None:
    """Append one action to the audit stream (see the module docstring)."""
    fields: dict[FieldT, EncodableT] = {
        "action": action,
        "outcome": outcome,
        "detail": detail[:500],
        "session": session,
        "client": client_address(request),
        "invoices": ",".join(invoice_ids)[:1000],
    }
    try:
        await store.redis.xadd(
            store.keys.console_audit(), fields, maxlen=AUDIT_KEPT, approximate=True
        )
    except RedisError as error:
        log.warning("console.audit.unrecorded", action=action, error=str(error))


async def read_actions(store: Store, before: str | None, count: int) -> StreamPage[Action]:
    """A page of actions, newest first, older than the entry ``before`` when given."""
    page = await stream_page(store.redis, store.keys.console_audit(), before, count)
    rows = [
        Action(
            id=entry_id,
            action=fields.get("action", ""),
            outcome=fields.get("outcome", ""),
            detail=fields.get("detail", ""),
            session=fields.get("session", ""),
            client=fields.get("client", ""),
            invoice_ids=tuple(i for i in fields.get("invoices", "").split(",") if i),
        )
        for entry_id, fields in page.rows
    ]
    return StreamPage(rows, page.next_cursor)
