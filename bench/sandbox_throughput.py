"""Benchmark of starksandbox: API throughput, batch create time, webhook delivery rate.

    .venv/bin/python bench/sandbox_throughput.py [--seconds 5] [--concurrency 16]
        [--batches 30] [--deliveries 5000]

Processes: the emulator runs as ``python -m starksandbox serve`` pinned to CPU 0; this client
and the webhook receiver share CPU 1. Prints, side by side with the targets:

1. authenticated SDK-style requests per second: each request carries the SDK's headers
   (Access-Id, Access-Time, Access-Signature over ``id:time:body``) signed afresh per request
   with the project key through OpenSSL (``cryptography``), not the SDK's pure-Python ECDSA,
   so the client is not the bottleneck. The mix is a quarter each of GET /v2/balance,
   GET /v2/invoice/{id}, GET /v2/invoice?limit=10 and POST /v2/invoice with one invoice, over
   keep-alive connections;
2. server time of a POST /v2/transfer with 100 transfers, read from the emulator's
   ``Server-Timing`` header (auth, validation, creation, logs and serialisation);
3. signed webhook deliveries per second to a minimal local receiver: deliveries are held
   with the ``webhook_delay`` fault, then released at once by advancing the clock; the
   receiver answers 200 without verifying, and one body is verified with ``event.parse``
   afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import starkbank
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from starksandbox.keys import load_private_pem, new_key_pair
from starksandbox.sdk import sdk_pointed_at

PROJECT_ID = "5656565656565656"
PAYER = {"amount": 1000, "taxId": "012.345.678-90", "name": "Maria Oliveira"}
RECEIVER = """
import sys, json
import uvicorn
state = {"count": 0, "last": None}
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["method"] == "POST":
        state["count"] += 1
        sig = dict(scope["headers"]).get(b"digital-signature", b"").decode()
        state["last"] = {"body": body.decode(), "signature": sig}
        out = b""
    else:
        out = json.dumps(state).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(out)).encode())]})
    await send({"type": "http.response.body", "body": out})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
            access_log=False, http="httptools", loop="uvloop")
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pin(pid: int, cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(pid, {cpu})


def wait_http(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextmanager
def process(args: list[str], cpu: int) -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pin(child.pid, cpu)
    try:
        yield child
    finally:
        child.terminate()
        child.wait(10)


class Client:
    """Signs like the SDK (through OpenSSL) and speaks HTTP/1.1 over one keep-alive socket."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, port: int) -> None:
        self.key = key
        self.port = port
        self.access_id = f"project/{PROJECT_ID}"

    def request_bytes(self, method: str, path: str, payload: Any = None) -> bytes:
        body = json.dumps(payload) if payload else ""
        access_time = str(time.time())
        message = f"{self.access_id}:{access_time}:{body}".encode()
        signature = base64.b64encode(self.key.sign(message, ec.ECDSA(hashes.SHA256()))).decode()
        raw = body.encode()
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Access-Id: {self.access_id}\r\nAccess-Time: {access_time}\r\n"
            f"Access-Signature: {signature}\r\nContent-Type: application/json\r\n"
            f"User-Agent: Python-3.11.7-SDK-bank-2.36.0\r\nContent-Length: {len(raw)}\r\n\r\n"
        )
        return head.encode() + raw


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


async def throughput(
    client: Client, seconds: float, concurrency: int, invoice_id: str
) -> tuple[float, int]:
    mix = [
        ("GET", "/v2/balance", None),
        ("GET", f"/v2/invoice/{invoice_id}", None),
        ("GET", "/v2/invoice?limit=10", None),
        ("POST", "/v2/invoice", {"invoices": [PAYER]}),
    ]
    done = 0
    failures = 0
    deadline = time.perf_counter() + seconds

    async def worker(offset: int) -> None:
        nonlocal done, failures
        reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
        for method, path, payload in itertools.islice(itertools.cycle(mix), offset, None):
            if time.perf_counter() >= deadline:
                break
            writer.write(client.request_bytes(method, path, payload))
            status, _, _ = await read_response(reader)
            done += 1
            failures += status != 200
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return done / (time.perf_counter() - started), failures


async def batch_times(client: Client, batches: int) -> tuple[list[float], list[float]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    server_ms: list[float] = []
    round_trip_ms: list[float] = []
    for batch in range(batches):
        transfers = [
            {
                "amount": 100 + i,
                "name": "Stark Bank S.A.",
                "taxId": "20.018.183/0001-80",
                "bankCode": "20018183",
                "branchCode": "0001",
                "accountNumber": "6341320293482496",
                "accountType": "payment",
                "externalId": f"bench-{batch}-{i}",
                "tags": ["bench"],
            }
            for i in range(100)
        ]
        data = client.request_bytes("POST", "/v2/transfer", {"transfers": transfers})
        started = time.perf_counter()
        writer.write(data)
        status, headers, _ = await read_response(reader)
        round_trip_ms.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise RuntimeError(f"100-transfer create answered {status}")
        server_ms.append(float(headers["server-timing"].split("dur=")[1]))
    writer.close()
    return server_ms, round_trip_ms


def deliveries(url: str, client: Client, count: int, receiver_url: str) -> tuple[float, bool]:
    http = httpx.Client(timeout=60)

    async def create_all() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
        hook = {"url": f"{receiver_url}/hook", "subscriptions": ["invoice"]}
        writer.write(client.request_bytes("POST", "/v2/webhook", hook))
        await read_response(reader)
        for start in range(0, count, 100):
            size = min(100, count - start)
            writer.write(client.request_bytes("POST", "/v2/invoice", {"invoices": [PAYER] * size}))
            status, _, _ = await read_response(reader)
            if status != 200:
                raise RuntimeError(f"invoice create answered {status}")
        writer.close()

    http.post(f"{url}/sandbox/reset")
    http.post(f"{url}/sandbox/faults", json={"webhook_delay": 3600})
    asyncio.run(create_all())
    started = time.perf_counter()
    http.post(f"{url}/sandbox/clock/advance", json={"seconds": 3600})
    while http.get(f"{receiver_url}/count").json()["count"] < count:
        time.sleep(0.01)
    rate = count / (time.perf_counter() - started)
    last = http.get(f"{receiver_url}/count").json()["last"]
    return rate, last


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="duration of the request-rate run"
    )
    parser.add_argument("--concurrency", type=int, default=16, help="keep-alive connections")
    parser.add_argument("--batches", type=int, default=30, help="100-transfer creates to time")
    parser.add_argument("--deliveries", type=int, default=5000, help="webhook deliveries to time")
    args = parser.parse_args()

    private_pem, public_pem = new_key_pair()
    key = load_private_pem(private_pem)
    pin(os.getpid(), 1)
    with tempfile.TemporaryDirectory() as tmp:
        public_file = Path(tmp) / "public.pem"
        public_file.write_text(public_pem)
        port, receiver_port = free_port(), free_port()
        url, receiver_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{receiver_port}"
        serve = [
            sys.executable,
            "-m",
            "starksandbox",
            "serve",
            "--port",
            str(port),
            "--project-id",
            PROJECT_ID,
            "--public-key",
            str(public_file),
            "--pay-share",
            "0",
            "--initial-balance",
            "100000000",
            "--transfer-processing-delay",
            "3600",
        ]
        with process(serve, 0), process([sys.executable, "-c", RECEIVER, str(receiver_port)], 1):
            wait_http(f"{url}/sandbox/health")
            wait_http(f"{receiver_url}/count")
            client = Client(key, port)

            async def first_invoice() -> str:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(client.request_bytes("POST", "/v2/invoice", {"invoices": [PAYER]}))
                _, _, body = await read_response(reader)
                writer.close()
                return str(json.loads(body)["invoices"][0]["id"])

            invoice_id = asyncio.run(first_invoice())
            rps, failures = asyncio.run(
                throughput(client, args.seconds, args.concurrency, invoice_id)
            )
            server_ms, round_trip_ms = asyncio.run(batch_times(client, args.batches))
            rate, last = deliveries(url, client, args.deliveries, receiver_url)
            project = starkbank.Project(
                environment="sandbox", id=PROJECT_ID, private_key=private_pem
            )
            with sdk_pointed_at(url):
                event = starkbank.event.parse(
                    content=last["body"], signature=last["signature"], user=project
                )
            verified = bool(event.id)

    median = statistics.median(server_ms)
    p95 = sorted(server_ms)[int(len(server_ms) * 0.95) - 1]
    rows = [
        (
            "authenticated requests per second",
            f"{rps:,.0f}/s ({failures} non-200)",
            ">= 500/s",
            rps >= 500,
        ),
        ("100-transfer create, server time p50", f"{median:.1f} ms", "< 50 ms", median < 50),
        ("100-transfer create, server time p95", f"{p95:.1f} ms", "< 50 ms", p95 < 50),
        (
            "100-transfer create, round trip p50",
            f"{statistics.median(round_trip_ms):.1f} ms",
            "-",
            True,
        ),
        ("signed webhook deliveries per second", f"{rate:,.0f}/s", ">= 500/s", rate >= 500),
        ("delivered body verified by event.parse", "yes" if verified else "NO", "yes", verified),
    ]
    width = max(len(r[0]) for r in rows)
    cpus = os.cpu_count()
    print(f"starksandbox on {cpus} CPUs (emulator pinned to CPU 0; client and receiver on CPU 1)")
    print(f"{'metric':<{width}}  {'measured':>26}  {'target':>9}  ok")
    for name, measured, target, ok in rows:
        print(f"{name:<{width}}  {measured:>26}  {target:>9}  {'yes' if ok else 'NO'}")


if __name__ == "__main__":
    main()
