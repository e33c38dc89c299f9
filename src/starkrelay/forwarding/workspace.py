"""Learning our Stark Bank workspace id from Stark Bank's own records.

Stark Bank signs every workspace's events with one key, so a valid signature does not say
whose event it is. Once our workspace id is known (``STARK_WORKSPACE_ID``, or learned here and
kept in Redis for every replica), the webhook route refuses other workspaces' events early
with 403. The ownership read before each forward stays the authority either way.
"""

from __future__ import annotations

import structlog

from starkrelay.bank import BankError, BankGateway
from starkrelay.core import store
from starkrelay.core.store import Keys, Redis

log = structlog.get_logger(__name__)


class WorkspaceLearner:
    """Keeps what Stark Bank reports as our workspace id in Redis (the latest report wins:
    only reads made with our credentials, or confirmed by them, are reports), and says so
    loudly when ``STARK_WORKSPACE_ID`` (`setting`) disagrees or the id changed."""

    def __init__(self, redis: Redis, keys: Keys, bank: BankGateway, setting: str | None) -> None:
        self.redis, self.keys, self.bank, self.setting = redis, keys, bank, setting
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
        previous = await store.learn_workspace_id(self.redis, self.keys, found)
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
