"""Redis: the connection, every key name, and the scripts that must run atomically.

This is the only module that knows key names. Every key starts with ``REDIS_KEY_PREFIX``
(``Keys(prefix)``), so several deployments or tests can share one Redis without seeing each
other. Sections below group keys by feature; add a feature's keys in its own section.

Connections decode responses to ``str`` and use hiredis when it is installed (it is a
dependency), so callers always get ``str`` back.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import redis.asyncio as aioredis

if TYPE_CHECKING:
    from starkrelay.settings import Settings

Redis = aioredis.Redis
"""The async client type every feature receives (``decode_responses=True``)."""


# === connection ==============================================================================


def connect(url: str, *, timeout: float = 5.0) -> Redis:
    """A client for ``url``. Lazy: no connection is opened until the first command."""
    client: Redis = aioredis.Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        health_check_interval=30,
    )
    return client


def connect_from_settings(settings: Settings) -> Redis:
    """A client for ``REDIS_URL``; raises ``ValueError`` when it is unset (see ``cli``)."""
    if settings.redis_url is None:
        raise ValueError("REDIS_URL: missing; expected a redis:// URL")
    return connect(settings.redis_url)


async def redis_answers(redis: Redis) -> bool:
    """True when Redis answers PING now; never raises."""
    try:
        return bool(await redis.ping())
    except Exception:
        return False


# === key names ===============================================================================


@dataclass(frozen=True)
class Keys:
    """Key-name builder. ``Keys("starkrelay").campaign()`` -> ``"starkrelay:campaign"``."""

    prefix: str

    def key(self, *parts: str | int) -> str:
        """``prefix:part1:part2...``; parts must not contain spaces."""
        return ":".join([self.prefix, *(str(part) for part in parts)])

    # --- invoice campaign ---------------------------------------------------------------------
    def campaign(self) -> str:
        """String (JSON): the current campaign (id, t0, interval, slots). Written once per start."""
        return self.key("campaign")

    def campaign_history(self) -> str:
        """List (JSON): campaigns replaced by ``campaign start``, newest first."""
        return self.key("campaign", "history")

    def campaign_slots(self, campaign_id: str) -> str:
        """Hash: slot number -> JSON outcome (issued / skipped / failed). Final once written."""
        return self.key("campaign", campaign_id, "slots")

    def slot_claim(self, campaign_id: str, slot: int) -> str:
        """String with expiry: the owner token of the process working on a slot."""
        return self.key("campaign", campaign_id, "slot", slot, "claim")

    def slot_attempt(self, campaign_id: str, slot: int) -> str:
        """String: set just before the create call; its presence means "look up by tag first"."""
        return self.key("campaign", campaign_id, "slot", slot, "attempt")

    # --- webhook registration -----------------------------------------------------------------
    def webhook_registration_lock(self) -> str:
        """String with expiry: owner token of the process registering the Stark Bank webhook."""
        return self.key("webhook", "registration", "lock")

    # --- webhooks (inbound events) ------------------------------------------------------------

    # --- forwarding ---------------------------------------------------------------------------

    # --- reconciliation -----------------------------------------------------------------------


def keys_from_settings(settings: Settings) -> Keys:
    """The key builder for ``REDIS_KEY_PREFIX``."""
    return Keys(settings.redis_key_prefix)


# === locks and claims ========================================================================
# A claim is ``SET key token NX PX ttl``; only the holder of the token may release it.

_RELEASE_IF_OWNER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

_EXTEND_IF_OWNER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


def new_token() -> str:
    """A fresh owner token for a claim or lock."""
    return secrets.token_hex(16)


async def claim(redis: Redis, key: str, token: str, ttl_seconds: float) -> bool:
    """Take ``key`` for ``token`` unless someone holds it; expires after ``ttl_seconds``."""
    ttl_ms = max(1, int(ttl_seconds * 1000))
    return bool(await redis.set(key, token, nx=True, px=ttl_ms))


async def release(redis: Redis, key: str, token: str) -> bool:
    """Delete ``key`` only if ``token`` still holds it (never someone else's claim)."""
    result = await redis.eval(_RELEASE_IF_OWNER, 1, key, token)
    return bool(cast(int, result))


async def extend(redis: Redis, key: str, token: str, ttl_seconds: float) -> bool:
    """Push the expiry of ``key`` to ``ttl_seconds`` from now, only if ``token`` holds it."""
    ttl_ms = max(1, int(ttl_seconds * 1000))
    result = await redis.eval(_EXTEND_IF_OWNER, 1, key, token, ttl_ms)
    return bool(cast(int, result))
