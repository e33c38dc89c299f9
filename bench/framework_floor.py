"""What answering one webhook costs before any of its work: the HTTP stack's floor, per layer.

    .venv/bin/python bench/framework_floor.py [--requests 5000] [--runs 3]

Each app answers ``POST /api/v1/webhooks/starkbank`` by reading the body and returning a small
JSON document, nothing else, served as ``starkrelay serve`` serves (uvicorn, uvloop,
httptools, access log off) in a child process pinned to core 0; the keep-alive load client
(64 connections, bodies the size of a real credited event) runs on core 1. CPU microseconds per
request are read from ``/proc`` for the server process. Layers:

1. a bare ASGI callable (uvicorn and httptools only);
2. Starlette, one ``Route``;
3. FastAPI, one route with one async dependency (the webhook route's shape until 2026-12-06);
4. FastAPI, one plain Starlette route answering a pre-encoded body (the shape of starkrelay's
   webhook route: ``api.webhook``'s route class, first of the app's routes).

Each FastAPI app is measured bare and with starkrelay's body-limit and request-duration
middlewares as ``create_app`` adds them (the plain route with them is the production shape).

The 1,500 forwarded per second target leaves 667 µs of one core per event for everything:
this prints how much of that the HTTP stack alone takes, run by run (min / median / max).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Annotated, Any

import uvloop
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from proc_cpu import cpu_seconds, loadavg
from relay_load import Shot, _serve, credited_event, free_port, pin, post_all
from relay_throughput import child
from starkrelay.core.settings import WEBHOOK_PATH

ANSWER = json.dumps({"outcome": "enqueued"}).encode()


def bare_asgi() -> Any:
    async def app(scope: dict[str, Any], receive: Callable[..., Any], send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = [(b"content-type", b"application/json"),
                   (b"content-length", str(len(ANSWER)).encode())]  # fmt: skip
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": ANSWER})

    return app


def starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.routing import Route

    async def webhook(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"outcome": "enqueued"})

    return Starlette(routes=[Route(WEBHOOK_PATH, webhook, methods=["POST"])])


async def intake(request: Request) -> dict[str, str]:
    return {"ready": "yes"}


def with_middlewares(app: FastAPI) -> FastAPI:
    from starkrelay.api.body_limit import BodyLimitMiddleware
    from starkrelay.api.http_metrics import RequestDurationMiddleware

    app.add_middleware(BodyLimitMiddleware, limits={WEBHOOK_PATH: 1_000_000})
    app.add_middleware(RequestDurationMiddleware)
    return app


def fastapi_app() -> FastAPI:
    app = FastAPI()

    @app.post(WEBHOOK_PATH)
    async def webhook(
        request: Request, ready: Annotated[dict[str, str], Depends(intake)]
    ) -> JSONResponse:
        await request.body()
        return JSONResponse({"outcome": "enqueued"})

    return app


def fastapi_plain_route() -> FastAPI:
    from starkrelay.api.webhook import _Route

    async def webhook(request: Request) -> Response:
        await request.body()
        return Response(ANSWER, 200, media_type="application/json")

    app = FastAPI()
    app.router.routes.insert(0, _Route(WEBHOOK_PATH, webhook, methods=["POST"]))
    return app


APPS: dict[str, Callable[[], Any]] = {
    "bare ASGI (uvicorn + httptools)": bare_asgi,
    "Starlette, one Route": starlette_app,
    "FastAPI, one async dependency": fastapi_app,
    "  + starkrelay's two middlewares": lambda: with_middlewares(fastapi_app()),
    "FastAPI, one plain route (the webhook's)": fastapi_plain_route,
    "  + starkrelay's two middlewares (production)": lambda: with_middlewares(
        fastapi_plain_route()
    ),
}


def run_app(conn: Connection, name: str, port: int) -> None:
    pin(0)
    _serve(APPS[name](), port, conn)


def measure(name: str, shots: list[Shot]) -> float:
    port = free_port()
    with child(run_app, name, port) as (_, pid):
        uvloop.run(post_all(port, shots[:200], connections=64))  # warm up
        before = cpu_seconds(pid)
        uvloop.run(post_all(port, shots, connections=64))
        used = cpu_seconds(pid) - before
    statuses = {shot.status for shot in shots}
    assert statuses == {200}, (name, statuses)
    return used * 1e6 / len(shots)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    pin(1)
    body = credited_event("5000000000000001", "6000000000000001", 12345, 0)
    shots = [Shot(body, "MEUCIQ" + "A" * 90) for _ in range(args.requests)]
    found: dict[str, list[float]] = {name: [] for name in APPS}
    print(f"load before: {loadavg()}", flush=True)
    started = time.monotonic()
    for _ in range(args.runs):
        for name in APPS:  # interleaved, so the machine's load falls on every layer alike
            found[name].append(measure(name, shots))
    print(f"CPU microseconds per request, server process on core 0, {args.runs} runs of "
          f"{args.requests} (min / median / max); load after: {loadavg()}")  # fmt: skip
    for name, values in found.items():
        low, mid, high = min(values), statistics.median(values), max(values)
        share = mid / 667 * 100
        print(f"  {name:46s} {low:6.0f} / {mid:6.0f} / {high:6.0f} µs"
              f"   {share:4.0f}% of 667 µs")  # fmt: skip
    print(f"({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
