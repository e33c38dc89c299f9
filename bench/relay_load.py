"""Pieces of the relay benchmark: the processes under test and a fast HTTP load client.

- ``run_sandbox``: a starksandbox in its own process, signing webhooks with a known key.
- ``relay_service``: starkrelay started exactly as in production (``starkrelay serve``, or
  ``starkrelay api --workers N`` beside ``starkrelay worker``), pinned with ``taskset``, its
  JSON logs at the production level written to a file;
- ``run_naive``: the common public approach in one process pinned to the same core: a route
  that calls ``starkbank.event.parse`` and then ``starkbank.transfer.create`` for each event,
  served by uvicorn with uvloop and httptools as ``uvicorn.run`` does.
- ``post_all``: keep-alive HTTP/1.1 POSTs over a few connections, recording when each was sent.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
from fastapi import Depends, FastAPI, Request

WEBHOOK_PATH = "/api/v1/webhooks/starkbank"
DESTINATION = {
    "bank_code": "20018183", "branch_code": "0001", "account_number": "6341320293482496",
    "name": "Stark Bank S.A.", "tax_id": "20.018.183/0001-80", "account_type": "payment",
}  # fmt: skip


@dataclass
class Service:
    port: int
    pids: list[int]
    log_path: Path


@contextmanager
def relay_service(
    env: dict[str, str], *, cores: str, api_workers: int | None = None
) -> Iterator[Service]:
    """starkrelay as ``serve`` runs it (``api_workers`` None), or ``api --workers N`` beside
    a ``worker``; every process pinned to `cores`; yields once ``/health/ready`` answers 200."""
    port = free_port()
    binary = str(Path(sys.executable).with_name("starkrelay"))
    log_dir = Path(tempfile.mkdtemp(prefix="relay-bench-"))
    commands = (
        [["serve", "--port", str(port)]]
        if api_workers is None
        else [["api", "--port", str(port), "--workers", str(api_workers)], ["worker"]]
    )
    processes: list[subprocess.Popen[bytes]] = []
    log_path = log_dir / "service.log"
    with log_path.open("wb") as sink:
        try:
            for command in commands:
                processes.append(
                    subprocess.Popen(
                        ["taskset", "-c", cores, binary, *command],
                        env={**os.environ, **env},
                        stdout=sink,
                        stderr=sink,
                    )
                )
            _wait_ready(port, processes, log_path)
            yield Service(port=port, pids=[p.pid for p in processes], log_path=log_path)
        finally:
            for process in processes:
                process.send_signal(signal.SIGINT)
            for process in processes:
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()


def _wait_ready(port: int, processes: list[subprocess.Popen[bytes]], log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(process.poll() is not None for process in processes):
            raise RuntimeError(f"starkrelay exited at start:\n{log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"starkrelay was not ready in 60 s:\n{log_path.read_text()[-2000:]}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    """Run `app` as ``uvicorn.run`` does (uvloop, httptools) until the parent says stop."""
    import threading

    import uvicorn

    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="error", access_log=False,
        lifespan="on", loop="uvloop", http="httptools",
    )  # fmt: skip
    server = uvicorn.Server(config)

    def stop_when_told() -> None:
        while not server.started:
            time.sleep(0.01)
        conn.send("ready")
        conn.recv()
        server.should_exit = True

    threading.Thread(target=stop_when_told, daemon=True).start()
    server.run()


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
    invoice_id: str = ""
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
