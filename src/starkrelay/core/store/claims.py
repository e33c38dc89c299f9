"""Owner-token claims and locks.

A claim is ``SET key token NX PX ttl``; only the holder of the token may release or extend
it (checked and done in one Lua step), so a process whose claim expired can never free a
claim someone else took since. ``hold`` also takes the claim back when it vanished (Redis lost
its data while the holder was still working) and nobody else has taken it since.
"""

from __future__ import annotations

import secrets
from typing import cast

from starkrelay.core.store.connection import Redis

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


_HOLD = """
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 2
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


async def hold(redis: Redis, key: str, token: str, ttl_seconds: float) -> str:
    """Keep ``key`` for ``token`` for ``ttl_seconds`` more, in one Lua step.

    Returns ``"extended"`` (``token`` held it), ``"retaken"`` (the key was gone, e.g. Redis
    restarted empty, and is now ``token``'s again) or ``"lost"`` (another token holds it).
    """
    ttl_ms = max(1, int(ttl_seconds * 1000))
    result = int(cast(int, await redis.eval(_HOLD, 1, key, token, ttl_ms)))
    return {1: "extended", 2: "retaken"}.get(result, "lost")
