"""Every request body is capped while it streams (``ops.body_limit``), on every route.

Over HTTP against the real app: a declared ``Content-Length`` over the limit is answered
before any of the body is sent, a chunked body as soon as it passes the limit. Then the
guarantee that matters: a 300 MB chunked body sent to every POST route of an app serving in a
process of its own leaves that process's peak memory (``VmHWM``) within 64 MB of what it was.
"""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from tests.support.relay_harness import ADMIN_TOKEN, MONEY_PATH, Relay, relay_context
from tests.support.settings import settings_for

from starkrelay.api.body_limit import DEFAULT_MAX_BODY_BYTES
from starkrelay.app import create_app
from starkrelay.core.settings import WEBHOOK_PATH, Settings
from starksandbox.testing import SandboxHandle

MB = 1024 * 1024
HUGE = 300 * MB
CHUNK = MB


@dataclass(frozen=True)
class Answer:
    status: int
    head: str
    """The status line and headers, as received."""
    sent: int
    """Body bytes the client had sent when the answer came."""


def body_frames(total: int, *, chunked: bool) -> Iterator[tuple[bytes, int]]:
    """(bytes on the wire, body bytes in them) for ``total`` bytes in pieces of 1 MiB."""
    piece, left = b"a" * CHUNK, total
    while left:
        size = min(CHUNK, left)
        left -= size
        data = piece[:size]
        yield (b"%x\r\n%b\r\n" % (size, data) if chunked else data), size
    if chunked:
        yield b"0\r\n\r\n", 0


def post_streaming(
    port: int, path: str, total: int, *, declare: bool = False, send_body: bool = True
) -> Answer:
    """POST ``total`` bytes to ``path`` (chunked, or with ``declare`` one ``Content-Length``),
    reading whenever the server has something to say: sending stops as soon as it answers
    or closes."""
    framing = f"content-length: {total}" if declare else "transfer-encoding: chunked"
    head = (
        f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n{framing}\r\n"
        "content-type: application/x-www-form-urlencoded\r\n\r\n"
    ).encode()
    frames = body_frames(total, chunked=not declare) if send_body else iter(())
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(head)
        conn.setblocking(False)
        sent, pending, received = 0, b"", b""
        deadline = time.monotonic() + 60  # a bound for a hung server, not a timing claim
        while b"\r\n\r\n" not in received:
            assert time.monotonic() < deadline, f"{path}: no answer after {sent} bytes"
            if not pending and (frame := next(frames, None)) is not None:
                pending, sent = frame[0], sent + frame[1]
            readable, writable, _ = select.select([conn], [conn] if pending else [], [], 10)
            if readable:
                try:
                    data = conn.recv(65536)
                except ConnectionResetError:
                    data = b""
                if not data:
                    break
                received += data
            elif writable:
                try:
                    pending = pending[conn.send(pending) :]
                except (BrokenPipeError, ConnectionResetError):
                    pending, frames = b"", iter(())
    status_line = received.split(b"\r\n", 1)[0].decode("latin-1")
    assert status_line.startswith("HTTP/1.1 "), f"{path}: answered {received[:200]!r}"
    return Answer(int(status_line.split()[1]), received.decode("latin-1"), sent)


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


@pytest.fixture
def relay(redis_url: str, key_prefix: str) -> Iterator[Relay]:
    with relay_context(redis_url, key_prefix) as running:
        yield running


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_sent(
    relay: Relay,
) -> None:
    assert relay.server is not None
    port = port_of(relay.server.url)
    for path in ("/console/signin", "/api/v1/admin/reconcile", "/console/signout"):
        answer = post_streaming(port, path, 600 * MB, declare=True, send_body=False)
        assert answer.status == 413, (path, answer.head)
        assert answer.sent == 0
        assert "connection: close" in answer.head.lower()
        assert f"over {DEFAULT_MAX_BODY_BYTES} bytes" in answer.head
    webhook = post_streaming(port, WEBHOOK_PATH, 600 * MB, declare=True, send_body=False)
    assert webhook.status == 413
    assert '"outcome":"too_large"' in webhook.head  # the route's own answer, as before
    assert f"over {relay.settings.webhook_max_body_bytes} bytes" in webhook.head


def test_a_chunked_body_is_refused_once_it_passes_the_limit(relay: Relay) -> None:
    assert relay.server is not None
    port = port_of(relay.server.url)
    signin = post_streaming(port, "/console/signin", 4 * MB)
    assert signin.status == 413
    assert "connection: close" in signin.head.lower()
    webhook = post_streaming(port, WEBHOOK_PATH, 4 * MB)
    assert webhook.status == 413
    assert '"outcome":"too_large"' in webhook.head


def test_bodies_within_the_limit_are_read_as_before(relay: Relay) -> None:
    assert relay.server is not None
    with httpx.Client(base_url=relay.server.url, timeout=10) as client:
        form = {"token": "x" * (DEFAULT_MAX_BODY_BYTES - 100)}
        assert client.post("/console/signin", data=form).status_code == 403  # no form cookie
        at_limit = b"{" + b" " * (relay.settings.webhook_max_body_bytes - 2) + b"}"
        answer = client.post(WEBHOOK_PATH, content=at_limit)
        assert (answer.status_code, answer.json()["outcome"]) == (401, "unsigned")


SERVER = """
import json, os, socket, sys
import uvicorn
from starkrelay.app import create_app
from starkrelay.core.settings import load_settings

values = json.loads(os.environ["BODY_LIMIT_TEST_SETTINGS"])
settings = load_settings(_env_file=None, **values)
config = uvicorn.Config(create_app(settings, role="api"), log_level="warning", access_log=False)
uvicorn.Server(config).run(sockets=[socket.socket(fileno=int(sys.argv[1]))])
"""


def peak_rss_bytes(pid: int) -> int:
    """The process's peak resident set size (``VmHWM``)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM in /proc/{pid}/status")


@pytest.fixture
def served_apart(
    sandbox: SandboxHandle, redis_url: str, key_prefix: str
) -> Iterator[tuple[int, int]]:
    """(pid, port) of the relay's API served by uvicorn in a process of its own."""
    values = {
        "stark_project_id": sandbox.project_id,
        "stark_private_key": sandbox.private_key,
        "stark_api_url": sandbox.url,
        "redis_url": redis_url,
        "redis_key_prefix": key_prefix,
        "admin_token": ADMIN_TOKEN,
    }
    env = os.environ | {"BODY_LIMIT_TEST_SETTINGS": json.dumps(values)}
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        port = listener.getsockname()[1]
        child = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(listener.fileno())],
            pass_fds=[listener.fileno()],
            env=env,
        )
    try:
        wait_until_live(port, child)
        yield child.pid, port
    finally:
        child.terminate()
        child.wait(10)


def wait_until_live(port: int, child: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while True:
        assert child.poll() is None, "the relay process exited"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the relay process never answered /health"
        time.sleep(0.02)


def post_routes(settings: Settings) -> list[str]:
    """Every POST route of the app (none takes a path parameter)."""
    routes = iter_route_contexts(create_app(settings, role="api").routes)
    return sorted(str(r.path) for r in routes if "POST" in (r.methods or ()))


def test_a_300_mb_body_to_every_post_route_does_not_grow_the_server(
    served_apart: tuple[int, int], sandbox: SandboxHandle, redis_url: str, key_prefix: str
) -> None:
    pid, port = served_apart
    routes = post_routes(settings_for(sandbox, redis_url, key_prefix, **MONEY_PATH))
    assert {"/console/signin", WEBHOOK_PATH, "/api/v1/admin/reconcile"} <= set(routes)
    for path in routes:  # warm up: every route answered once with a small body
        assert post_streaming(port, path, 1024).status < 500
    before = peak_rss_bytes(pid)
    answers: dict[str, Answer] = {path: post_streaming(port, path, HUGE) for path in routes}
    grown = peak_rss_bytes(pid) - before
    for path, answer in answers.items():
        assert 400 <= answer.status < 500, (path, answer.head)
        assert answer.sent < 32 * MB, f"{path} read on long past the limit ({answer.sent} bytes)"
    assert grown < 64 * MB, f"peak RSS grew from {before // MB} MB by {grown // MB} MB"
