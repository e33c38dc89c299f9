"""Which workspace's events the webhook route takes: the cheap first filter (403).

``STARK_WORKSPACE_ID`` when set (production requires it): used from the first request, and
nothing learned overrides it. Otherwise (development) the id the forwarding worker learned
from Stark Bank's records (``store.learned_workspace_id``); until one is known every
workspace's event is let through, and the worker's ownership read refuses what is not ours.
"""

from __future__ import annotations

import time

from redis.exceptions import RedisError

from starkrelay.core import store
from starkrelay.core.store import Keys, Redis


class WorkspaceFilter:
    """One per app. A learned id is kept in memory for ``recheck_seconds`` (then read again,
    so a re-learned id reaches every replica); while none is learned, each call asks Redis
    (one GET)."""

    def __init__(self, setting: str | None, recheck_seconds: float = 30.0) -> None:
        self.setting = setting
        self.recheck_seconds = recheck_seconds
        self.learned: str | None = None
        self._read_at = 0.0

    async def expected(self, redis: Redis, keys: Keys) -> str | None:
        """The workspace whose events are taken, or None when any may pass (not yet known,
        or Redis not answering: the intake then answers 503 itself)."""
        if self.setting is not None:
            return self.setting
        now = time.monotonic()
        if self.learned is None or now - self._read_at >= self.recheck_seconds:
            try:
                self.learned = await store.learned_workspace_id(redis, keys)
            except RedisError:
                return self.learned
            self._read_at = now
        return self.learned
