"""Registering our webhook with Stark Bank exactly once, however many replicas start at once.

``ensure_webhook`` holds a Redis lock (owner token, expiry) while it looks the webhooks up and,
only if none fits, creates one; the others wait for the lock and then find the one created.
Same-URL webhooks that lack a subscription (and same-URL duplicates, where the provider allows
them) are deleted, so after a successful call exactly one webhook points at the URL and it is
subscribed to ``SUBSCRIPTIONS``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import structlog
from redis.exceptions import RedisError

from starkrelay.bank.errors import BankInputError, BankUnavailableError
from starkrelay.bank.gateway import BankGateway
from starkrelay.bank.models import Webhook
from starkrelay.core.retry import RetryPolicy
from starkrelay.core.settings import Settings
from starkrelay.core.store import Store, claim, new_token, redis_hint, release
from starkrelay.core.supervision import Heartbeat, retry_startup

log = structlog.get_logger("starkrelay.webhooks.registration")

SUBSCRIPTIONS = ("invoice", "transfer")


class RegistrationBusyError(Exception):
    """Another process held the registration lock for longer than we were willing to wait."""


async def ensure_webhook(
    bank: BankGateway,
    store: Store,
    url: str,
    *,
    lock_seconds: float = 120.0,
    wait_seconds: float = 120.0,
) -> Webhook:
    """Return THE webhook for ``url``, creating it only when none is registered.

    ``lock_seconds`` must outlast one look-up + create (with retries); ``wait_seconds`` bounds
    how long we wait for another process's registration before ``RegistrationBusyError``.
    Gateway errors propagate (the lock is released first).
    """
    token = new_token()
    lock = store.keys.webhook_registration_lock()
    give_up = time.monotonic() + wait_seconds
    pause = 0.02
    while not await claim(store.redis, lock, token, lock_seconds):
        if time.monotonic() >= give_up:
            raise RegistrationBusyError(
                f"webhook registration lock {lock!r} still held after {wait_seconds:.0f}s; "
                "another process is registering (or died holding it: retry after it expires)"
            )
        await anyio.sleep(pause)
        pause = min(pause * 2, 0.25)
    try:
        return await _ensure_locked(bank, url)
    finally:
        await release(store.redis, lock, token)


async def _ensure_locked(bank: BankGateway, url: str) -> Webhook:
    same_url = [hook for hook in await bank.list_webhooks() if hook.url == url]
    complete = [hook for hook in same_url if set(SUBSCRIPTIONS) <= set(hook.subscriptions)]
    keep = complete[0] if complete else None
    for hook in same_url:
        if hook is not keep:
            await bank.delete_webhook(hook.id)
            log.warning("webhook.registration.removed", webhook_id=hook.id, url=url)
    if keep is not None:
        log.info("webhook.registration.found", webhook_id=keep.id, url=url)
        return keep
    try:
        created = await bank.create_webhook(url, SUBSCRIPTIONS)
    except BankInputError:
        # Registered meanwhile by something that does not take our lock (a person, another
        # deployment sharing the project): use it if it fits.
        for hook in await bank.list_webhooks():
            if hook.url == url and set(SUBSCRIPTIONS) <= set(hook.subscriptions):
                return hook
        raise
    log.info("webhook.registration.created", webhook_id=created.id, url=url)
    return created


@asynccontextmanager
async def webhook_registered_at_start(
    bank: BankGateway,
    store: Store,
    settings: Settings,
    heartbeat: Heartbeat | None = None,
) -> AsyncIterator[None]:
    """Background part: ensure our webhook for ``settings.webhook_url`` once, at start (on
    enter), retried per ``STARTUP_RETRY_*`` while Stark Bank, Redis or the registration lock is
    unavailable. A refusal (``BankInputError``) or the deadline propagates: the process
    stops. Without ``API_EXTERNAL_URL`` it only says so."""
    url = settings.webhook_url
    if url is None:
        log.warning("webhook.registration.skipped", reason="API_EXTERNAL_URL is not set")
        yield
        return
    lock_seconds = settings.bank_retry_deadline_seconds * 4 + settings.bank_timeout_seconds * 4
    lock_seconds = max(lock_seconds, 30.0)
    await retry_startup(
        lambda: ensure_webhook(bank, store, url, lock_seconds=lock_seconds),
        part=heartbeat or Heartbeat("webhook_registration"),
        policy=RetryPolicy.startup(settings),
        retry_on=(BankUnavailableError, RegistrationBusyError, RedisError),
        what="webhook registration",
        hint=redis_hint,
    )
    yield
