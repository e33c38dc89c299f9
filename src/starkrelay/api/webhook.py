"""``POST /api/v1/webhooks/starkbank``: verify, de-duplicate, enqueue, answer.

Answers, in the order they are checked: 503 this process cannot act on events now (it is
stopping, or in the ``serve`` role its forwarding worker is not running); 400 ``disconnected``
when the client goes away before the body is in (logged as one warning); 413 body over
``WEBHOOK_MAX_BODY_BYTES`` (refused while it streams, by ``ops.body_limit``); 401 missing or
bad ``Digital-Signature`` (nothing stored); 503 public key not loadable; 400 not an event (see
``events``: strict, so a naive date-time, a lone surrogate or an oversized field is refused
here); 403 another workspace (``STARK_WORKSPACE_ID``, else the id learned from Stark Bank's
records; see ``webhooks.workspace``); 400 older than ``WEBHOOK_REPLAY_WINDOW_SECONDS``; 400
dated more than ``WEBHOOK_CLOCK_SKEW_SECONDS`` in the future; 503 Redis unavailable (Stark Bank
retries); else 200, also for a duplicate (nothing is done twice) and for a subscription or log
type we do not act on (``ignored``). Nothing is stored or counted by event content before
every check passed; the outcome label is one of a fixed set. No business logic here: see
``intake.take_event``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from starlette.requests import ClientDisconnect

from starkrelay.api.body_limit import BodyTooLarge
from starkrelay.api.deps import WebhookIntakeDep
from starkrelay.bank.public_key import StarkPublicKey
from starkrelay.core import relay_metrics as metrics
from starkrelay.core.settings import WEBHOOK_PATH
from starkrelay.webhooks.events import MalformedEvent, parse_webhook_body
from starkrelay.webhooks.intake import IntakePolicy, take_event
from starkrelay.webhooks.signature import PublicKeyUnavailable, SignatureError, SignatureVerifier

log = structlog.get_logger(__name__)

router = APIRouter()


def build_verifier(public_key: StarkPublicKey, refresh_min_seconds: float) -> SignatureVerifier:
    """The process's verifier (the app builds one), seeded with the key the app loads at
    start: its first fetch returns that key if loaded, later ones fetch a fresh one."""
    seeded = False

    async def fetch() -> str:
        nonlocal seeded
        if not seeded and public_key.pem is not None:
            seeded = True
            return public_key.pem
        seeded = True
        return await public_key.fetch()

    return SignatureVerifier(fetch, refresh_min_seconds=refresh_min_seconds)


def _answer(status: int, outcome: str, detail: str | None = None) -> JSONResponse:
    metrics.WEBHOOKS.labels(outcome).inc()
    body: dict[str, str] = {"outcome": outcome}
    if detail:
        body["detail"] = detail
    return JSONResponse(body, status_code=status)


@router.post(WEBHOOK_PATH)
async def receive_stark_bank_event(request: Request, intake: WebhookIntakeDep) -> JSONResponse:
    """Take one Stark Bank event. 200 means it is durably claimed (and enqueued if credited)."""
    settings, redis, keys = intake.settings, intake.redis, intake.keys
    verifier, workspace_filter, unavailable = (
        intake.verifier,
        intake.workspace_filter,
        intake.unavailable,
    )
    if unavailable is not None:
        log.warning("webhooks.intake.unavailable", reason=unavailable)
        return _answer(503, "unavailable", f"cannot act on events now ({unavailable})")
    try:
        body = await request.body()  # capped by BodyLimitMiddleware at WEBHOOK_MAX_BODY_BYTES
    except BodyTooLarge as refusal:
        return _answer(413, "too_large", f"body over {refusal.limit} bytes")
    except ClientDisconnect:
        log.warning("webhooks.client.disconnected", note="the client left before its body was in")
        return _answer(400, "disconnected", "the client disconnected before the body was read")
    try:
        await verifier.verify(body, request.headers.get("digital-signature"))
    except SignatureError as exc:
        metrics.SIGNATURE_FAILURES.inc()
        log.warning("webhooks.signature.refused", reason=str(exc), size=len(body))
        return _answer(401, "unsigned", "invalid or missing Digital-Signature")
    except PublicKeyUnavailable as exc:
        return _answer(503, "unavailable", str(exc))
    try:
        event = parse_webhook_body(body)
    except MalformedEvent as exc:
        log.warning("webhooks.event.malformed", reason=str(exc))
        return _answer(400, "malformed", str(exc))
    workspace = await workspace_filter.expected(redis, keys)
    if workspace is not None and event.workspace_id != workspace:
        log.warning("webhooks.event.other_workspace", event_id=event.id)
        return _answer(403, "other_workspace", "event from another workspace")
    now = datetime.now(UTC)
    window = timedelta(seconds=settings.webhook_replay_window_seconds)
    if event.created < now - window:
        log.warning("webhooks.event.stale", event_id=event.id, created=event.created.isoformat())
        return _answer(400, "stale", "event is older than the replay window")
    if event.latest_created > now + timedelta(seconds=settings.webhook_clock_skew_seconds):
        created = event.latest_created.isoformat()
        log.warning("webhooks.event.future", event_id=event.id, created=created)
        return _answer(400, "future", "event is dated in the future beyond the allowed clock skew")
    policy = IntakePolicy(replay_window_seconds=settings.webhook_replay_window_seconds)
    try:
        outcome = await take_event(redis, keys, event, policy)
    except RedisError as exc:
        log.error("webhooks.redis_unavailable", event_id=event.id, error=type(exc).__name__)
        return _answer(503, "unavailable", "storage unavailable; retry later")
    return _answer(200, outcome.value)
