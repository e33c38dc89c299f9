"""The emulator as an ASGI application.

``Sandbox`` owns the configuration, the project keys, the emulator's signing key, the router
and the live ``Workspace`` with its ``Deliverer``. The workspace is built on the server's
event loop at startup (ASGI lifespan) and rebuilt by ``reset``. Requests under ``/v2`` are
authenticated and subject to the API faults (throttling included), except the public invoice
PDF links (``/v2/invoice/<uuid>.pdf``); ``/sandbox`` requests are neither. Every ``/v2``
answer carries ``Server-Timing: app;dur=<ms>`` (time spent in the emulator, injected latency
included).
"""

from __future__ import annotations

import asyncio
import inspect
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog

from starksandbox import control, throttle
from starksandbox.auth import Authenticator
from starksandbox.clock import wire_datetime
from starksandbox.config import SandboxConfig
from starksandbox.delivery import Deliverer
from starksandbox.keys import Signer, generate_private_key, load_private_pem
from starksandbox.resources import event, invoice, transfer, webhook
from starksandbox.state import Workspace
from starksandbox.web import (
    ApiError,
    Request,
    Response,
    Router,
    error_response,
    json_response,
    normalise_path,
    parse_query,
)

log = structlog.get_logger("starksandbox.app")

Scope = dict[str, Any]
Message = dict[str, Any]


class Sandbox:
    """One emulator: call it as an ASGI app (``uvicorn`` runs it with lifespan on).

    ``budget_clock`` replaces the emulator's clock for the per-second request budget only
    (``Faults.api_requests_per_second``), in every workspace this sandbox builds; tests hold
    it still so that calls share one second.
    """

    def __init__(
        self,
        config: SandboxConfig,
        base_url: str = "",
        budget_clock: Callable[[], float] | None = None,
    ) -> None:
        self.config = config
        self.base_url = base_url
        self.budget_clock = budget_clock
        key = load_private_pem(config.signing_key) if config.signing_key else generate_private_key()
        self.signer = Signer(key)
        self.key_created = wire_datetime(datetime.now(UTC))
        self.auth = Authenticator(config.projects, config.access_time_tolerance)
        self._ws: Workspace | None = None
        self._deliverer: Deliverer | None = None
        self.router = Router()
        invoice.register(self.router, lambda: self.ws)
        transfer.register(self.router, lambda: self.ws)
        event.register(self.router, lambda: self.ws)
        webhook.register(
            self.router, lambda: self.ws, lambda: (self.signer.public_pem, self.key_created)
        )
        control.register(self.router, self)

    @property
    def ws(self) -> Workspace:
        if self._ws is None:
            raise RuntimeError("the sandbox has not started (ASGI lifespan startup not run)")
        return self._ws

    @property
    def deliverer(self) -> Deliverer:
        if self._deliverer is None:
            raise RuntimeError("the sandbox has not started (ASGI lifespan startup not run)")
        return self._deliverer

    async def startup(self) -> None:
        ws = Workspace(self.config, self.base_url, self.budget_clock)
        self._deliverer = Deliverer(ws, self.signer)
        ws.timers.start()
        self._ws = ws
        log.info("sandbox.started", workspace_id=ws.workspace_id, projects=self.auth.project_ids())

    async def shutdown(self) -> None:
        if self._ws is not None:
            await self._ws.timers.stop()
        if self._deliverer is not None:
            await self._deliverer.stop()

    async def reset(self) -> None:
        """Drop every resource, pending timer and delivery; back to the configured start."""
        await self.shutdown()
        await self.startup()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        response = await self._handle(scope, receive)
        headers = [
            (b"content-type", response.content_type.encode()),
            (b"content-length", str(len(response.body)).encode()),
        ]
        headers += [(k.encode(), v.encode()) for k, v in response.headers.items()]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as error:
                    await send({"type": "lifespan.startup.failed", "message": str(error)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _read_body(self, receive: Any) -> bytes | None:
        """The whole body, or None once it exceeds ``max_body_bytes``."""
        chunks: list[bytes] = []
        size = 0
        limit = self.config.max_body_bytes
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _handle(self, scope: Scope, receive: Any) -> Response:
        body = await self._read_body(receive)
        if body is None:
            return error_response(
                ApiError.one(
                    "invalidJson", f"The request body exceeds {self.config.max_body_bytes} bytes"
                )
            )
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path = normalise_path(scope["path"])
        request = Request(scope["method"], path, parse_query(scope["query_string"]), body, headers)
        if (path.startswith("/v2/") or path == "/v2") and not _PUBLIC.match(path):
            started = time.perf_counter()
            response = await self._api(request)
            elapsed = (time.perf_counter() - started) * 1000
            response.headers["server-timing"] = f"app;dur={elapsed:.3f}"
            return response
        return await self._dispatch(request)

    async def _api(self, request: Request) -> Response:
        ws = self.ws
        faults = ws.faults
        if faults.api_latency:
            await asyncio.sleep(faults.api_latency)
        refusal = throttle.throttled(faults, ws.request_budget, ws.fault_rng)
        if refusal is not None:
            ws.requests_throttled += 1
            log.debug("sandbox.api.throttled", method=request.method, path=request.path)
            return refusal
        if faults.api_error_rate and ws.fault_rng.random() < faults.api_error_rate:
            return _internal_error()
        try:
            self.auth.verify(request.headers, request.body)
        except ApiError as error:
            log.info("sandbox.auth.refused", code=error.errors[0][0], path=request.path)
            return error_response(error)
        response = await self._dispatch(request)
        if faults.api_lost_response_rate and ws.fault_rng.random() < faults.api_lost_response_rate:
            return _internal_error()
        if (
            faults.transfer_refused_after_create_rate
            and request.method == "POST"
            and request.path == "/v2/transfer"
            and response.status == 200
            and ws.fault_rng.random() < faults.transfer_refused_after_create_rate
        ):
            return _unfamiliar_refusal()
        return response

    async def _dispatch(self, request: Request) -> Response:
        resolved = self.router.resolve(request.method, request.path)
        if resolved is None:
            if self.router.knows_path(request.path):
                return error_response(
                    ApiError.one(
                        "invalidMethod", f"{request.method} is not allowed on {request.path}", 405
                    )
                )
            return error_response(ApiError.one("notFound", f"No route for {request.path}", 404))
        handler, params = resolved
        try:
            result = handler(request, params)
            if inspect.isawaitable(result):
                result = await result
            return result
        except ApiError as error:
            return error_response(error)
        except Exception:
            log.exception("sandbox.handler.failed", method=request.method, path=request.path)
            return _internal_error()


# Invoice PDF links are opened by payers in a browser: served without a signature.
_PUBLIC = re.compile(r"^/v2/invoice/[0-9a-f]{32}\.pdf$")


def _unfamiliar_refusal() -> Response:
    """A 400 in wording no Stark Bank document shows (fault ``transfer_refused_after_create``)."""
    return error_response(
        ApiError.one(
            "unexpectedConflict", "The request conflicts with the current state (ref 7Q2-XK)"
        )
    )


def _internal_error() -> Response:
    return json_response(
        {"errors": [{"code": "internalServerError", "message": "Houston, we have a problem."}]}, 500
    )
