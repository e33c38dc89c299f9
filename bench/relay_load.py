"""Pieces of the relay benchmark: the processes under test and a fast HTTP load client.

- ``run_sandbox``: a starksandbox in its own process, signing webhooks with a known key.
- ``run_relay``: starkrelay (webhook route + forwarding worker) in one process, pinned to one
  core.
- ``run_naive``: the common public approach in one process pinned to the same core: a route
  that calls ``starkbank.event.parse`` and then ``starkbank.transfer.create`` for each event.
- ``post_all``: keep-alive HTTP/1.1 POSTs over a few connections, recording when each was sent.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

from fastapi import Depends, FastAPI, Request

WEBHOOK_PATH = "/api/v1/webhooks/starkbank"
DESTINATION = {
    "bank_code": "20018183", "branch_code": "0001", "account_number": "6341320293482496",
    "name": "Stark Bank S.A.", "tax_id": "20.018.183/0001-80", "account_type": "payment",
}  # fmt: skip


def pin(core: int | None) -> None:
    if core is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})


def quiet_logs() -> None:
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    logging.getLogger("uvicorn").setLevel(logging.ERROR)


def run_sandbox(conn: Connection, project_id: str, public_pem: str, signing_key: str) -> None:
    """Child process: serve a starksandbox until the parent closes `conn`."""
    quiet_logs()
    pin(1)
    from starksandbox.config import SandboxConfig
    from starksandbox.server import SandboxServer

    config = SandboxConfig(
        projects={project_id: public_pem}, pay_share=0.0, initial_balance=10**13,
        transfer_processing_delay=3600.0, invoice_fee=0, transfer_fee=0,
        signing_key=signing_key, delivery_concurrency=4,
    )  # fmt: skip
    with SandboxServer(config) as server:
        conn.send(server.url)
        conn.recv()


def _serve(app: Any, port: int, conn: Connection) -> None:
    import uvicorn

    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="error", access_log=False,
        lifespan="on", loop="uvloop", http="httptools",
    )  # fmt: skip
    server = uvicorn.Server(config)

    async def main() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
            await asyncio.sleep(0.01)
        conn.send("ready")
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        server.should_exit = True
        await task

    asyncio.run(main())


def run_relay(conn: Connection, settings: dict[str, Any], port: int) -> None:
    """Child process: starkrelay with its webhook route and forwarding worker, one core."""
    quiet_logs()
    pin(0)
    import starkrelay.app as relay_app
    from starkrelay.forwarding.service import forwarding_worker
    from starkrelay.settings import load_settings

    relay_app.BACKGROUND[:] = [forwarding_worker]  # no campaign, no webhook registration
    _serve(relay_app.create_app(load_settings(**settings), role="serve"), port, conn)


def run_naive(conn: Connection, sandbox_url: str, project: dict[str, str], port: int) -> None:
    """Child process: parse with the SDK, then one transfer.create per credited event."""
    quiet_logs()
    pin(0)
    import starkbank

    from starksandbox.sdk import point_sdk_at

    starkbank.user = starkbank.Project(environment="sandbox", **project)
    point_sdk_at(sandbox_url)
    app = FastAPI()

    async def raw_body(request: Request) -> bytes:
        return await request.body()

    @app.post(WEBHOOK_PATH)
    def webhook(request: Request, body: bytes = Depends(raw_body)) -> dict[str, str]:
        event = starkbank.event.parse(
            content=body.decode(), signature=request.headers["digital-signature"]
        )
        if event.subscription == "invoice" and event.log.type == "credited":
            invoice = event.log.invoice
            starkbank.transfer.create([
                starkbank.Transfer(
                    amount=invoice.amount - invoice.fee, external_id=f"invoice-{invoice.id}",
                    tags=[f"invoice:{invoice.id}"], **DESTINATION,
                )
            ])  # fmt: skip
        return {"status": "ok"}

    _serve(app, port, conn)


def credited_event(event_id: str, invoice_id: str, amount: int, fee: int) -> bytes:
    """A webhook body as Stark Bank sends it (sorted keys, default separators)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    invoice = {"id": invoice_id, "amount": amount, "fee": fee, "nominalAmount": amount,
               "status": "paid", "tags": [], "fineAmount": 0, "interestAmount": 0,
               "discountAmount": 0}  # fmt: skip
    log = {"id": "8" + invoice_id, "created": now, "type": "credited", "errors": [],
           "invoice": invoice}  # fmt: skip
    event = {"id": event_id, "created": now, "subscription": "invoice", "log": log,
             "workspaceId": "1"}  # fmt: skip
    return json.dumps({"event": event}, sort_keys=True).encode()


@dataclass
class Shot:
    body: bytes
    signature: str
    sent_at: float = 0.0
    status: int = 0


async def _connection(host: str, port: int, queue: asyncio.Queue[Shot | None]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while (shot := await queue.get()) is not None:
            head = (
                f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Content-Type: application/json\r\nDigital-Signature: {shot.signature}\r\n"
                f"Content-Length: {len(shot.body)}\r\n\r\n"
            ).encode()
            shot.sent_at = time.time()
            writer.write(head + shot.body)
            status_line = await reader.readline()
            shot.status = int(status_line.split()[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            await reader.readexactly(length)
    finally:
        writer.close()


async def post_all(
    port: int, shots: Sequence[Shot], *, connections: int, rate: float | None = None
) -> float:
    """POST every shot (at `rate` per second, or as fast as possible); returns elapsed s."""
    queue: asyncio.Queue[Shot | None] = asyncio.Queue()
    workers = [
        asyncio.create_task(_connection("127.0.0.1", port, queue)) for _ in range(connections)
    ]
    started = time.perf_counter()
    for n, shot in enumerate(shots):
        if rate is not None:
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        queue.put_nowait(shot)
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return time.perf_counter() - started
