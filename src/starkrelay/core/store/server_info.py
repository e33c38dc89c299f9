"""What the Redis server says about itself: version, eviction policy, persistence.

Read with ``INFO`` (allowed on managed Redis such as ElastiCache) and, for RDB save points,
``CONFIG GET save``, which managed services often refuse: ``rdb_save_points`` is then None
("could not tell"), never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.exceptions import ResponseError

from starkrelay.core.store.connection import Redis


@dataclass(frozen=True)
class ServerFacts:
    server: str
    """``redis`` or ``valkey``."""
    version: str
    maxmemory_policy: str
    aof_enabled: bool
    rdb_save_points: str | None
    """``CONFIG GET save`` ("" when RDB snapshots are off); None when CONFIG is refused."""

    @property
    def version_tuple(self) -> tuple[int, ...]:
        parts = []
        for part in self.version.split("."):
            digits = "".join(ch for ch in part if ch.isdigit())
            parts.append(int(digits or 0))
        return tuple(parts)


async def server_facts(redis: Redis) -> ServerFacts:
    """Ask the server. Connection and authentication errors propagate (``RedisError``)."""
    info = await redis.info("server")
    memory = await redis.info("memory")
    persistence = await redis.info("persistence")
    server = "valkey" if "valkey_version" in info else "redis"
    version = str(info.get("valkey_version") or info.get("redis_version") or "unknown")
    try:
        config = await redis.config_get("save")
        save: str | None = str(config.get("save", ""))
    except ResponseError:  # CONFIG disabled or renamed (managed Redis)
        save = None
    return ServerFacts(
        server=server,
        version=version,
        maxmemory_policy=str(memory.get("maxmemory_policy", "unknown")),
        aof_enabled=str(persistence.get("aof_enabled", "0")) == "1",
        rdb_save_points=save,
    )
