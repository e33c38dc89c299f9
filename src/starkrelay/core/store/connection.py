"""The Redis connection: one client type, one way to build it, one liveness probe, and the
``Store`` (a client and its key namespace) every feature receives.

Connections decode responses to ``str`` and use hiredis when it is installed (it is a
dependency), so callers always get ``str`` back; commands are packed by hiredis too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.connection import HiredisRespSerializer

from starkrelay.core.store.batching import ScriptBatcher
from starkrelay.core.store.keys import Keys, keys_from_settings

if TYPE_CHECKING:
    from starkrelay.core.settings import Settings

Redis = aioredis.Redis
"""The async client type every feature receives (``decode_responses=True``)."""

MAX_CONNECTIONS = 64
"""Redis connections per process; more concurrent commands wait for one to be free."""


_PACKER = HiredisRespSerializer()


class _HiredisPacking:
    """Packs commands with hiredis, as redis-py's synchronous client does when hiredis is
    installed: the same bytes, and the same ``DataError`` for what cannot be sent (redis-py's
    asyncio connection packs in Python: most of a pipeline's client CPU)."""

    def pack_command(self, *args: Any) -> list[bytes]:
        packed: list[bytes] = _PACKER.pack(*args)
        return packed


_PACKED: dict[type[AbstractConnection], type[AbstractConnection]] = {}


def _packed_by_hiredis(base: type[AbstractConnection]) -> type[AbstractConnection]:
    """``base`` (the connection class the URL's scheme chose) packing with hiredis."""
    if base not in _PACKED:
        _PACKED[base] = type(f"Hiredis{base.__name__}", (_HiredisPacking, base), {})
    return _PACKED[base]


def connect(url: str, *, timeout: float = 5.0, password: str | None = None) -> Redis:
    """A client for ``url``. Lazy: no connection is opened until the first command.

    ``password`` is used only when the URL carries none (redis-py's rule).
    """
    # A blocking pool: under a burst of concurrent requests a command waits (up to ``timeout``)
    # for a free connection instead of failing at once with MaxConnectionsError.
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=timeout,
        password=password,
        decode_responses=True,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        health_check_interval=30,
    )
    pool.connection_class = _packed_by_hiredis(pool.connection_class)
    client: Redis = aioredis.Redis.from_pool(pool)
    return client


def connect_from_settings(settings: Settings, *, timeout: float = 5.0) -> Redis:
    """A client for ``REDIS_URL``; raises ``ValueError`` when it is unset (see ``cli``)."""
    if settings.redis_url is None:
        raise ValueError("REDIS_URL: missing; expected a redis:// URL")
    password = settings.redis_password
    return connect(
        settings.redis_url,
        timeout=timeout,
        password=password.get_secret_value() if password is not None else None,
    )


@dataclass(frozen=True)
class Store:
    """A Redis client, the key namespace (``REDIS_KEY_PREFIX``) it is used under, and the
    batchers of its hot scripts."""

    redis: Redis
    keys: Keys
    _batchers: dict[str, ScriptBatcher] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def batcher(self, script: str, numkeys: int) -> ScriptBatcher:
        """``script``'s batcher (``batching.ScriptBatcher``), one per store, made on first use."""
        found = self._batchers.get(script)
        if found is None:
            found = self._batchers[script] = ScriptBatcher(self.redis, script, numkeys)
        return found


def store_from_settings(settings: Settings) -> Store:
    """The ``Store`` for ``REDIS_URL`` and ``REDIS_KEY_PREFIX`` (see ``connect_from_settings``)."""
    return Store(connect_from_settings(settings), keys_from_settings(settings))


def redis_hint(error: BaseException) -> str | None:
    """What an operator should check for a Redis ``error`` at start, naming the setting."""
    from redis.exceptions import AuthenticationError, AuthenticationWrongNumberOfArgsError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    if isinstance(error, AuthenticationError | AuthenticationWrongNumberOfArgsError):
        return "Redis refused the password: check REDIS_PASSWORD (or the one in REDIS_URL)"
    if "NOAUTH" in str(error):
        return "Redis wants a password: set REDIS_PASSWORD (or put it in REDIS_URL)"
    if isinstance(error, RedisConnectionError | RedisTimeoutError | OSError):
        return "Redis does not answer at REDIS_URL: is it running and reachable?"
    return None


async def redis_answers(redis: Redis) -> bool:
    """True when Redis answers PING now; never raises."""
    try:
        return bool(await redis.ping())
    except Exception:
        return False
