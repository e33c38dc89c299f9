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

import inspect
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from fastapi import FastAPI
from redis.exceptions import RedisError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Scope

from starkrelay.api.body_limit import BodyTooLarge
from starkrelay.api.deps import Services
from starkrelay.bank.public_key import StarkPublicKey
from starkrelay.core import relay_metrics as metrics
from starkrelay.core.settings import WEBHOOK_PATH
from starkrelay.core.store import Store
from starkrelay.core.supervision import Supervisor
from starkrelay.ledger.workspace import WorkspaceFilter
from starkrelay.webhooks.events import MalformedEvent, parse_webhook_body, webhook_body_schema
from starkrelay.webhooks.intake import IntakePolicy, Outcome, take_event
from starkrelay.webhooks.signature import PublicKeyUnavailable, SignatureError, SignatureVerifier

log = structlog.get_logger(__name__)


def build_verifier(public_key: StarkPublicKey, refresh_min_seconds: float) -> SignatureVerifier:
    """The process's verifier, seeded with the key the app loads at start: its first fetch
    returns that key if loaded, later ones fetch a fresh one."""
    seeded = False

    async def fetch() -> str:
        nonlocal seeded
        if not seeded and public_key.pem is not None:
            seeded = True
            return public_key.pem
        seeded = True
        return await public_key.fetch()

    return SignatureVerifier(fetch, refresh_min_seconds=refresh_min_seconds)


@dataclass(frozen=True)
class WebhookIntake:
    """Everything the webhook route needs, built once per process by the app's lifespan
    (``app.state.webhook_intake``): the route solves no dependency per request."""

    store: Store
    verifier: SignatureVerifier
    workspace_filter: WorkspaceFilter
    policy: IntakePolicy
    replay_window: timedelta
    clock_skew: timedelta
    supervisor: Supervisor
    requires: tuple[str, ...]
    """Parts that must be running for this process to act on events (``app.INTAKE_REQUIRES``)."""

    @classmethod
    def build(
        cls, services: Services, supervisor: Supervisor, requires: tuple[str, ...]
    ) -> WebhookIntake:
        settings = services.settings
        return cls(
            store=services.store,
            verifier=build_verifier(services.public_key, settings.public_key_refresh_min_seconds),
            workspace_filter=WorkspaceFilter(settings.stark_workspace_id),
            policy=IntakePolicy(replay_window_seconds=settings.webhook_replay_window_seconds),
            replay_window=timedelta(seconds=settings.webhook_replay_window_seconds),
            clock_skew=timedelta(seconds=settings.webhook_clock_skew_seconds),
            supervisor=supervisor,
            requires=requires,
        )

    def unavailable(self) -> str | None:
        """Why this process cannot act on a webhook it would accept now (it is stopping, or a
        part its role needs for intake is not running), or None when it can."""
        if self.supervisor.fatal is not None:
            return "the process is stopping"
        heartbeat = self.supervisor.heartbeat
        missing = [name for name in self.requires if heartbeat(name).state != "running"]
        return f"not running: {', '.join(missing)}" if missing else None


@dataclass(frozen=True)
class _Answer:
    """One answer ``{"outcome": ..., "detail": ...}``, its body encoded once (as
    ``JSONResponse`` encodes it)."""

    status: int
    outcome: str
    body: bytes

    @classmethod
    def of(cls, status: int, outcome: str, detail: str | None = None) -> _Answer:
        document = {"outcome": outcome} | ({"detail": detail} if detail else {})
        encoded = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
        return cls(status, outcome, encoded.encode())

    def response(self) -> Response:
        metrics.webhooks_by_outcome(self.outcome).inc()
        return Response(self.body, self.status, media_type="application/json")


_DISCONNECTED = _Answer.of(400, "disconnected", "the client disconnected before the body was read")
_UNSIGNED = _Answer.of(401, "unsigned", "invalid or missing Digital-Signature")
_OTHER_WORKSPACE = _Answer.of(403, "other_workspace", "event from another workspace")
_STALE = _Answer.of(400, "stale", "event is older than the replay window")
_FUTURE = _Answer.of(400, "future", "event is dated in the future beyond the allowed clock skew")
_NO_STORAGE = _Answer.of(503, "unavailable", "storage unavailable; retry later")
_TAKEN = {outcome: _Answer.of(200, outcome.value) for outcome in Outcome}


async def receive_stark_bank_event(request: Request) -> Response:
    """Take one Stark Bank event. 200 means it is durably claimed (and enqueued if credited)."""
    intake: WebhookIntake = request.app.state.webhook_intake
    unavailable = intake.unavailable()
    if unavailable is not None:
        log.warning("webhooks.intake.unavailable", reason=unavailable)
        return _Answer.of(
            503, "unavailable", f"cannot act on events now ({unavailable})"
        ).response()
    try:
        body = await request.body()  # capped by BodyLimitMiddleware at WEBHOOK_MAX_BODY_BYTES
    except BodyTooLarge as refusal:
        return _Answer.of(413, "too_large", f"body over {refusal.limit} bytes").response()
    except ClientDisconnect:
        log.warning("webhooks.client.disconnected", note="the client left before its body was in")
        return _DISCONNECTED.response()
    try:
        await intake.verifier.verify(body, request.headers.get("digital-signature"))
    except SignatureError as exc:
        metrics.SIGNATURE_FAILURES.inc()
        log.warning("webhooks.signature.refused", reason=str(exc), size=len(body))
        return _UNSIGNED.response()
    except PublicKeyUnavailable as exc:
        return _Answer.of(503, "unavailable", str(exc)).response()
    try:
        event = parse_webhook_body(body)
    except MalformedEvent as exc:
        log.warning("webhooks.event.malformed", reason=str(exc))
        return _Answer.of(400, "malformed", str(exc)).response()
    workspace = await intake.workspace_filter.expected(intake.store)
    if workspace is not None and event.workspace_id != workspace:
        log.warning("webhooks.event.other_workspace", event_id=event.id)
        return _OTHER_WORKSPACE.response()
    now = datetime.now(UTC)
    if event.created < now - intake.replay_window:
        log.warning("webhooks.event.stale", event_id=event.id, created=event.created.isoformat())
        return _STALE.response()
    if event.latest_created > now + intake.clock_skew:
        created = event.latest_created.isoformat()
        log.warning("webhooks.event.future", event_id=event.id, created=created)
        return _FUTURE.response()
    try:
        outcome = await take_event(intake.store, event, intake.policy)
    except RedisError as exc:
        log.error("webhooks.redis_unavailable", event_id=event.id, error=type(exc).__name__)
        return _NO_STORAGE.response()
    return _TAKEN[outcome].response()


def _answers(*outcomes: str) -> dict[str, Any]:
    outcome = {"type": "string", "enum": list(outcomes)}
    properties = {"outcome": outcome, "detail": {"type": "string"}}
    schema = {"type": "object", "required": ["outcome"], "properties": properties}
    return {"application/json": {"schema": schema}}


_PATH_ITEM: dict[str, Any] = {
    "post": {
        "summary": "Receive Stark Bank Event",
        "description": inspect.cleandoc(__doc__ or ""),
        "operationId": "receive_stark_bank_event_api_v1_webhooks_starkbank_post",
        "parameters": [
            {
                "name": "Digital-Signature",
                "in": "header",
                "description": "Stark Bank's signature of the body (else 401)",
                "schema": {"type": "string"},
            }
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": webhook_body_schema()}},
        },
        "responses": {
            "200": {
                "description": "Taken: durably claimed, and enqueued if credited; also a "
                "duplicate (nothing done twice) and a type not acted on (ignored)",
                "content": _answers(*(outcome.value for outcome in Outcome)),
            },
            "400": {
                "description": "The client left before its body was in, not an event, older "
                "than the replay window, or dated beyond the allowed clock skew",
                "content": _answers("disconnected", "malformed", "stale", "future"),
            },
            "401": {
                "description": "Missing or bad Digital-Signature (nothing stored)",
                "content": _answers("unsigned"),
            },
            "403": {
                "description": "An event of another workspace",
                "content": _answers("other_workspace"),
            },
            "413": {
                "description": "Body over WEBHOOK_MAX_BODY_BYTES",
                "content": _answers("too_large"),
            },
            "503": {
                "description": "This process cannot act on events now, the public key is not "
                "loadable, or Redis is unavailable: Stark Bank retries",
                "content": _answers("unavailable"),
            },
        },
    }
}


class _Route(Route):
    """A plain Starlette route that names itself in ``scope["route"]`` when it matches, as
    FastAPI's own routes do (FastAPI's router does not for plain ones), so the request
    metric labels it by its template."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


def add_webhook_route(app: FastAPI) -> None:
    """Serve ``receive_stark_bank_event`` as a plain route of ``app``, before every other
    route (no dependency solving, no response model), and list it in ``app``'s OpenAPI
    document, which FastAPI builds only from its own routes."""
    route = _Route(WEBHOOK_PATH, receive_stark_bank_event, methods=["POST"])
    app.router.routes.insert(0, route)
    generated = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generated()
        schema.setdefault("paths", {})[WEBHOOK_PATH] = _PATH_ITEM
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
