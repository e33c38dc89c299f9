"""Our Stark Bank workspace id: which records are ours. The one workspace module, in the
ledger's package because both the webhook route (its filter) and the forwarding worker (its
learner) rest on it, and neither imports the other.

Stark Bank signs every workspace's events with one key, so a valid signature does not say
whose event it is. ``STARK_WORKSPACE_ID`` (production requires it) names ours; in development
the forwarding worker learns it from Stark Bank's own records (``WorkspaceLearner``: our latest
event read with our credentials, or an event whose invoice the ownership read confirmed ours)
and keeps it in Redis for every replica (``learn_workspace_id``). The webhook route's
``WorkspaceFilter`` refuses other workspaces' events early with 403: the cheap first line.
The ownership read before each forward, and the evidence rule of the ledger, are the authority
either way.
"""

from __future__ import annotations

import time
from typing import cast

import structlog
from redis.exceptions import RedisError

from starkrelay.bank import BankError, BankGateway
from starkrelay.core.store import Store

log = structlog.get_logger(__name__)


async def learned_workspace_id(store: Store) -> str | None:
    """The workspace id learned so far, or None."""
    value = cast(str | None, await store.redis.get(store.keys.workspace_id()))
    return value or None


async def learn_workspace_id(store: Store, workspace_id: str) -> str | None:
    """Keep `workspace_id` (what Stark Bank reports for our credentials: it replaces any older
    value, e.g. after a sandbox was recreated); returns the value it replaced, or None."""
    previous = cast(
        str | None, await store.redis.set(store.keys.workspace_id(), workspace_id, get=True)
    )
    return previous or None


class WorkspaceFilter:
    """One per app. A learned id is kept in memory for ``recheck_seconds`` (then read again,
    so a re-learned id reaches every replica); while none is learned, each call asks Redis
    (one GET)."""

    def __init__(self, setting: str | None, recheck_seconds: float = 30.0) -> None:
        self.setting = setting
        self.recheck_seconds = recheck_seconds
        self.learned: str | None = None
        self._read_at = 0.0

    async def expected(self, store: Store) -> str | None:
        """The workspace whose events are taken, or None when any may pass (not yet known,
        or Redis not answering: the intake then answers 503 itself)."""
        if self.setting is not None:
            return self.setting
        now = time.monotonic()
        if self.learned is None or now - self._read_at >= self.recheck_seconds:
            try:
                self.learned = await learned_workspace_id(store)
            except RedisError:
                return self.learned
            self._read_at = now
        return self.learned


class WorkspaceLearner:
    """Keeps what Stark Bank reports as our workspace id in Redis (the latest report wins:
    only reads made with our credentials, or confirmed by them, are reports), and says so
    loudly when ``STARK_WORKSPACE_ID`` (`setting`) disagrees or the id changed."""

    def __init__(self, store: Store, bank: BankGateway, setting: str | None) -> None:
        self.store, self.bank, self.setting = store, bank, setting
        self.known: str | None = None

    async def learn_from_bank(self) -> None:
        """Read our latest event with our credentials (``GET /event?limit=1``): its
        ``workspaceId`` is ours. Never fatal (a workspace without events yet says nothing)."""
        try:
            found = await self.bank.workspace_id()
        except BankError as exc:
            log.warning("forwarding.workspace.unavailable", error=str(exc))
            return
        if found is not None:
            await self._remember(found, "event_listing")

    async def learn_from_confirmed(self, workspace_id: str | None) -> None:
        """The workspace an event named, once the ownership read confirmed its invoice ours."""
        if workspace_id and workspace_id != self.known:
            await self._remember(workspace_id, "confirmed_event")

    async def _remember(self, found: str, source: str) -> None:
        previous = await learn_workspace_id(self.store, found)
        self.known = found
        if previous is not None and previous != found:
            log.error("forwarding.workspace.changed", previous=previous, found=found, source=source)
        if self.setting is not None and self.setting != found:
            log.error(
                "forwarding.workspace.setting_mismatch",
                stark_workspace_id=self.setting,
                api_workspace_id=found,
                source=source,
                hint="STARK_WORKSPACE_ID names another workspace than the one Stark Bank "
                "reports for our credentials: our own webhooks are refused with 403 until "
                "the setting is fixed or removed",
            )
        elif previous != found:
            log.info("forwarding.workspace.learned", workspace_id=found, source=source)
