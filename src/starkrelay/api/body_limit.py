"""Every request body is capped while it streams, as plain ASGI middleware.

The middleware wraps ``receive``; every way of reading a body (``request.body()``,
``request.stream()``, FastAPI's own parsing) goes through it. What a route may rely on:

- a path's limit is ``limits[path]`` when given, else ``default_limit`` (64 KiB: every console
  form and admin request fits many times over);
- a body without a ``Content-Length`` (chunked) is refused by the read that passes the limit:
  ``receive`` raises ``BodyTooLarge``, so nothing ever holds more than the limit plus one chunk;
- a ``Content-Length`` over the limit is refused before any of the body is read: on a path of
  ``limits`` (a route that reads its body and answers a refusal in its own words, like the
  webhook) by the first read raising ``BodyTooLarge``; on every other path with a 413 at once,
  without calling the route;
- ``BodyTooLarge`` is a 413 ``HTTPException``: uncaught, the answer is 413 ``{"detail": ...}``
  naming the limit;
- the answer to a refused body carries ``Connection: close``: the server closes the
  connection instead of reading the rest of the body.

Starlette's own ``max_body_size`` is not used: it lets a route that never reads its body run
(an authenticated reconcile would) before answering 413, and replaces a route's own answer.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_MAX_BODY_BYTES = 65536


class BodyTooLarge(HTTPException):
    """The request's body is over ``limit`` bytes; reading stopped at the chunk that passed it."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over {limit} bytes; send at most {limit} bytes")
        self.limit = limit


def declared_length(scope: Scope) -> int | None:
    """The request's ``Content-Length`` as a number, or None when absent or not a number."""
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


def refusal(limit: int) -> JSONResponse:
    """The 413 answer of a body over ``limit`` bytes."""
    return JSONResponse({"detail": BodyTooLarge(limit).detail}, status_code=413)


def closing(start: Message) -> Message:
    """``start`` (an ``http.response.start``) with ``Connection: close`` as its only
    connection header."""
    headers = [
        (name, value) for name, value in start.get("headers", []) if name.lower() != b"connection"
    ]
    return {**start, "headers": [*headers, (b"connection", b"close")]}


class BodyLimitMiddleware:
    """Refuse (413) any request body over its path's limit while it streams."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        default_limit: int = DEFAULT_MAX_BODY_BYTES,
        limits: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        self.default_limit = default_limit
        self.limits = dict(limits or {})

    def limit_for(self, path: str) -> int:
        return self.limits.get(path, self.default_limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        limit = self.limit_for(path)
        declared = declared_length(scope)
        received = 0
        refused = declared is not None and declared > limit
        started = False

        async def capped_receive() -> Message:
            nonlocal received, refused
            if refused:
                raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    raise BodyTooLarge(limit)
            return message

        async def send_closing_when_refused(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if refused:
                    message = closing(message)
            await send(message)

        if refused and path not in self.limits:
            await refusal(limit)(scope, capped_receive, send_closing_when_refused)
            return
        try:
            await self.app(scope, capped_receive, send_closing_when_refused)
        except BodyTooLarge:
            if started:
                raise
            await refusal(limit)(scope, capped_receive, send_closing_when_refused)
