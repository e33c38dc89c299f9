"""Claims in real Redis: one owner at a time, released or extended only by their owner."""

from __future__ import annotations

import asyncio

import pytest
from ellipticcurve import PrivateKey
from redis import Redis as SyncRedis
from redis.exceptions import AuthenticationError

from starkrelay.core.settings import Settings
from starkrelay.core.store import (
    Keys,
    claim,
    connect,
    connect_from_settings,
    extend,
    hold,
    new_token,
    release,
)

pytestmark = pytest.mark.anyio


def test_key_names_carry_the_prefix() -> None:
    keys = Keys("relay-a")
    assert keys.campaign() == "relay-a:campaign"
    assert keys.slot_claim("c1", 3) == "relay-a:campaign:c1:slot:3:claim"
    assert keys.campaign_slots("c1") != Keys("relay-b").campaign_slots("c1")


async def test_one_claimant_wins_and_only_the_owner_releases(
    redis_url: str, key_prefix: str
) -> None:
    redis = connect(redis_url)
    key = Keys(key_prefix).slot_claim("c", 0)
    tokens = [new_token() for _ in range(20)]
    won = await asyncio.gather(*(claim(redis, key, t, 5) for t in tokens))
    assert won.count(True) == 1
    owner = tokens[won.index(True)]
    intruder = next(t for t in tokens if t != owner)
    assert not await release(redis, key, intruder)
    assert not await extend(redis, key, intruder, 60)
    assert await redis.get(key) == owner
    assert await extend(redis, key, owner, 60)
    assert await redis.pttl(key) > 5000
    assert await release(redis, key, owner)
    assert await claim(redis, key, intruder, 5)
    await redis.delete(key)
    await redis.aclose()


async def test_hold_extends_takes_back_a_vanished_claim_and_never_steals(
    redis_url: str, key_prefix: str
) -> None:
    redis = connect(redis_url)
    key = Keys(key_prefix).slot_claim("c", 1)
    owner, other = new_token(), new_token()
    assert await claim(redis, key, owner, 1)
    assert await hold(redis, key, owner, 60) == "extended"
    assert await redis.pttl(key) > 5000
    await redis.delete(key)  # Redis lost it (restarted empty) while the owner works
    assert await hold(redis, key, owner, 60) == "retaken"
    assert await redis.get(key) == owner
    assert not await claim(redis, key, other, 5)
    assert await release(redis, key, owner)
    assert await claim(redis, key, other, 5)
    assert await hold(redis, key, owner, 60) == "lost"
    assert await redis.get(key) == other
    await redis.delete(key)
    await redis.aclose()


async def test_an_expired_claim_can_be_taken_and_the_old_owner_cannot_free_it(
    redis_url: str, key_prefix: str
) -> None:
    redis = connect(redis_url)
    key = Keys(key_prefix).webhook_registration_lock()
    first, second = new_token(), new_token()
    assert await claim(redis, key, first, 0.02)
    await asyncio.sleep(0.04)
    assert await claim(redis, key, second, 5)
    assert not await release(redis, key, first)
    assert await redis.get(key) == second
    await redis.delete(key)
    await redis.aclose()


async def test_redis_password_is_used_when_the_url_has_none(
    redis_url: str, key_prefix: str
) -> None:
    """REDIS_PASSWORD authenticates a URL that names only the user (how ECS passes the token)."""
    admin = SyncRedis.from_url(redis_url)
    user = f"relay-{key_prefix}"
    admin.acl_setuser(
        user, enabled=True, passwords=["+right-password"], keys=["*"], commands=["+@all"]
    )
    url = redis_url.replace("redis://", f"redis://{user}@", 1)

    def settings(password: str) -> Settings:
        return Settings(  # type: ignore[call-arg]
            _env_file=None,
            stark_project_id="1",
            stark_private_key=PrivateKey().toPem(),
            redis_url=url,
            redis_password=password,
        )

    async def ping(password: str) -> bool:
        client = connect_from_settings(settings(password))
        try:
            return bool(await client.ping())
        finally:
            await client.aclose()

    try:
        assert await ping("right-password")
        with pytest.raises(AuthenticationError):
            await ping("wrong-password")
        assert "right-password" not in repr(settings("right-password"))
    finally:
        admin.acl_deluser(user)
