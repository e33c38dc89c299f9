"""The HTTP request-duration histogram, as plain ASGI middleware.

Labels stay bounded whatever clients send: ``route`` is the matched route's template
(``/api/v1/webhooks/starkbank``, never a raw path with ids or junk in it) or ``unmatched``;
``method`` is one of the standard methods or ``other``; ``status`` is the status code sent
(``500`` when the app failed before sending one).
"""

from __future__ import annotations

import functools
import time

from prometheus_client import Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from starkrelay.core.metrics import HTTP_REQUEST_DURATION

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_label(scope: Scope) -> str:
    """The template of the route that handled ``scope``, or ``unmatched``."""
    route = scope.get("route")
    path = getattr(route, "path", None) or getattr(route, "path_format", None)
    return path if isinstance(path, str) and path else "unmatched"


@functools.cache
def _observed(method: str, route: str, status: int) -> Histogram:
    """The histogram's child for one request's (bounded) labels, looked up once."""
    return HTTP_REQUEST_DURATION.labels(
        method=method, route=route, status=str(status) if 100 <= status <= 599 else "other"
    )


class RequestDurationMiddleware:
    """Observe every HTTP request in ``starkrelay_http_request_duration_seconds``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_recording_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_recording_status)
        finally:
            method = str(scope.get("method", "")).upper()
            child = _observed(method if method in METHODS else "other", route_label(scope), status)
            child.observe(time.perf_counter() - started)
