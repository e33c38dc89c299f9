"""Console sign-in: the ``ADMIN_TOKEN`` once, then a session cookie; CSRF on every POST.

Callers may rely on:

- no ``ADMIN_TOKEN`` configured: every console route answers 404 (like the admin API);
- the token is compared in constant time; a session is a random cookie value whose SHA-256
  names a Redis record with an expiry (``CONSOLE_SESSION_SECONDS``); the cookie is HttpOnly,
  SameSite=Strict, Secure when the request came over https (or ``API_EXTERNAL_URL`` is
  https), and expires with the record;
- a session is bound to the ``ADMIN_TOKEN`` it was opened with: its record keeps the token's
  fingerprint (an HMAC under the token, never the token), and a record whose fingerprint is
  not the current token's is deleted and refused. Restarting with a new token ends every
  session (and spends every pending one-time link); signing out deletes the record, so the
  cookie replayed afterwards is refused;
- each session has its own CSRF token; a POST without it (form field ``csrf`` or header
  ``X-CSRF-Token``) is refused with 403, whatever the cookie says;
- a one-time sign-in link (``one_time_signin_url``) works once (GETDEL) and expires after
  ``CONSOLE_SIGNIN_LINK_SECONDS``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Annotated
from urllib.parse import parse_qs, quote

import structlog
from fastapi import Depends, HTTPException, Request
from fastapi.responses import Response

from starkrelay.api.deps import Services, ServicesDep
from starkrelay.core.settings import Settings
from starkrelay.core.store import Store, store_from_settings

log = structlog.get_logger(__name__)

SESSION_COOKIE = "starkrelay_console"
SIGNIN_COOKIE = "starkrelay_console_signin"
"""Double-submit cookie of the sign-in form (protects the form itself against CSRF)."""


@dataclass
class ConsoleSession:
    """One signed-in browser."""

    digest: str
    csrf: str
    created: float
    expires: float
    token: str
    """``token_fingerprint`` of the ``ADMIN_TOKEN`` the session was opened with."""
    flash: list[dict[str, str]] = field(default_factory=list)
    """Notices left by the last action for the next page (each ``Notice`` as a dict), shown
    once."""

    @property
    def label(self) -> str:
        """How logs and the audit name this session: the start of its digest (never the
        cookie)."""
        return self.digest[:12]

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


@dataclass(frozen=True)
class Notice:
    """One message an action leaves for the page it returns to."""

    text: str
    level: str = "ok"
    """``ok`` (done), ``info`` (nothing to do) or ``error`` (not done: shown as an error)."""

    @classmethod
    def from_stored(cls, stored: object) -> Notice:
        if isinstance(stored, dict):
            return cls(str(stored.get("text", "")), str(stored.get("level", "info")))
        return cls(str(stored), "info")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def same_secret(given: str, expected: str) -> bool:
    """``given == expected``, in constant time."""
    return hmac.compare_digest(given.encode(), expected.encode())


def token_fingerprint(settings: Settings) -> str:
    """Names the configured ``ADMIN_TOKEN`` without revealing it: an HMAC-SHA256 of a fixed
    label keyed by the token ("" when there is none)."""
    token = settings.admin_token
    if token is None:
        return ""
    key = token.get_secret_value().encode()
    return hmac.new(key, b"starkrelay console session", hashlib.sha256).hexdigest()


async def console_on(services: ServicesDep) -> Services:
    """The services, or 404 when no ``ADMIN_TOKEN`` is configured (the console is off)."""
    if services.settings.admin_token is None:
        raise HTTPException(status_code=404, detail="Not Found")
    return services


ConsoleOnDep = Annotated[Services, Depends(console_on)]


def token_matches(services: Services, given: str) -> bool:
    """True when ``given`` is the configured ``ADMIN_TOKEN`` (constant time)."""
    token = services.settings.admin_token
    return token is not None and same_secret(given, token.get_secret_value())


async def open_session(services: Services) -> tuple[str, ConsoleSession]:
    """A new session; returns the cookie value (kept only by the browser) and the record."""
    value = secrets.token_urlsafe(32)
    now = time.time()
    ttl = services.settings.console_session_seconds
    fingerprint = token_fingerprint(services.settings)
    session = ConsoleSession(_digest(value), secrets.token_urlsafe(32), now, now + ttl, fingerprint)
    key = services.store.keys.console_session(session.digest)
    await services.store.redis.set(key, session.to_json(), px=int(ttl * 1000))
    log.info("console.session.opened", session=session.label)
    return value, session


async def load_session(services: Services, cookie: str | None) -> ConsoleSession | None:
    """The live session of ``cookie``, or None (unknown, expired, malformed, or opened with
    another ``ADMIN_TOKEN``: that record is deleted)."""
    if not cookie or len(cookie) > 128:
        return None
    key = services.store.keys.console_session(_digest(cookie))
    text = await services.store.redis.get(key)
    if not text:
        return None
    try:
        session = ConsoleSession(**json.loads(str(text)))
    except (TypeError, ValueError):
        return None
    if not same_secret(str(session.token), token_fingerprint(services.settings)):
        await services.store.redis.delete(key)
        log.info("console.session.ended", session=session.label, reason="token changed")
        return None
    return session if session.expires > time.time() else None


async def save_session(services: Services, session: ConsoleSession) -> None:
    """Write ``session`` back (flash messages) without extending its expiry."""
    remaining = int((session.expires - time.time()) * 1000)
    if remaining > 0:
        key = services.store.keys.console_session(session.digest)
        await services.store.redis.set(key, session.to_json(), px=remaining, xx=True)


async def end_session(services: Services, session: ConsoleSession) -> None:
    await services.store.redis.delete(services.store.keys.console_session(session.digest))
    log.info("console.session.closed", session=session.label)


def set_cookie(
    response: Response,
    request: Request,
    services: Services,
    name: str,
    value: str,
    *,
    max_age: int,
    path: str,
) -> None:
    """An HttpOnly, SameSite=Strict cookie; Secure when the request came over https, or the
    service's public URL is https (a TLS-terminating proxy in front)."""
    external = services.settings.api_external_url
    secure = request.url.scheme == "https" or str(external or "").startswith("https://")
    response.set_cookie(
        name, value, max_age=max_age, path=path, httponly=True, samesite="strict", secure=secure
    )


async def use_signin_link(store: Store, settings: Settings, token: str) -> bool:
    """True when ``token`` is a live one-time link issued under the current ``ADMIN_TOKEN``;
    the link is spent either way."""
    if not token or len(token) > 128:
        return False
    issued_under = await store.redis.getdel(store.keys.console_signin_link(_digest(token)))
    expected = token_fingerprint(settings)
    return issued_under is not None and same_secret(str(issued_under), expected)


async def read_form(request: Request) -> dict[str, str]:
    """The urlencoded form of a POST (first value per field); 413 (``BodyTooLarge``, raised
    while the body streams, by the app's ``BodyLimitMiddleware``) past 64 KiB, 415 for any
    other body type. Cached on the request."""
    cached: dict[str, str] | None = getattr(request.state, "console_form", None)
    if cached is not None:
        return cached
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if body and kind != "application/x-www-form-urlencoded":
        raise HTTPException(status_code=415, detail="expected an urlencoded form")
    parsed = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    form = {name: values[0] for name, values in parsed.items()}
    request.state.console_form = form
    return form


async def page_session(request: Request, services: ConsoleOnDep) -> ConsoleSession:
    """A page's session; without one, a redirect to the sign-in page (back here after)."""
    session = await load_session(services, request.cookies.get(SESSION_COOKIE))
    if session is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise HTTPException(
            status_code=303,
            detail="sign in first",
            headers={"Location": f"/console/signin?next={quote(target, safe='')}"},
        )
    return session


async def action_session(request: Request, services: ConsoleOnDep) -> ConsoleSession:
    """A POST's session: 403 without a live session or without its CSRF token."""
    session = await load_session(services, request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise HTTPException(status_code=403, detail="sign in first")
    form = await read_form(request)
    given = form.get("csrf") or request.headers.get("x-csrf-token", "")
    if not same_secret(given, session.csrf):
        log.warning("console.csrf.refused", path=request.url.path)
        raise HTTPException(status_code=403, detail="missing or wrong CSRF token")
    return session


PageSessionDep = Annotated[ConsoleSession, Depends(page_session)]
ActionSessionDep = Annotated[ConsoleSession, Depends(action_session)]


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a console path, never another site."""
    if target and target.startswith("/console") and not target.startswith("//"):
        return target
    return "/console"


async def one_time_signin_url(settings: Settings, base_url: str) -> str:
    """A fresh one-time sign-in link to the console at ``base_url`` (for a person who started
    the service and holds its token, e.g. ``starkrelay demo --keep-running``): it signs one
    browser in, once, within ``CONSOLE_SIGNIN_LINK_SECONDS``, while ``ADMIN_TOKEN`` is the one
    configured now."""
    token = secrets.token_urlsafe(32)
    store = store_from_settings(settings)
    try:
        key = store.keys.console_signin_link(_digest(token))
        ttl = int(settings.console_signin_link_seconds * 1000)
        await store.redis.set(key, token_fingerprint(settings), px=ttl)
    finally:
        await store.redis.aclose()
    return f"{base_url.rstrip('/')}/console/signin/link/{token}"
