"""The delivery HTTP client against receivers that answer in every legal way."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import pytest

from starksandbox.poster import PostConnectionError, Poster, PostTimeout

pytestmark = pytest.mark.anyio

Answer = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[bool]]


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return await reader.readexactly(length)


async def _serve(answer: Answer) -> tuple[asyncio.Server, str, list[bytes]]:
    bodies: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                bodies.append(await _read_request(reader))
                if not await answer(reader, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/hook?x=1", bodies


async def _length(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    return True


async def _chunked(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    writer.write(b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n")
    return True


async def _until_close(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    writer.write(b"HTTP/1.0 404 Not Found\r\n\r\nnot here")
    return False


async def _close_after_each(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    await writer.drain()
    return False


@pytest.mark.parametrize(
    ("answer", "status"),
    [(_length, 200), (_chunked, 202), (_until_close, 404), (_close_after_each, 200)],
)
async def test_statuses_and_reuse(answer: Answer, status: int) -> None:
    server, url, bodies = await _serve(answer)
    poster = Poster(timeout=2)
    for n in range(3):
        assert await poster.post(url, f"body-{n}".encode(), {"X": "1"}) == status
        await asyncio.sleep(0.01)
    assert bodies == [b"body-0", b"body-1", b"body-2"]
    await poster.close()
    server.close()


async def test_timeout() -> None:
    async def silent(_: asyncio.StreamReader, __: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(5)
        return False

    server, url, _ = await _serve(silent)
    with pytest.raises(PostTimeout):
        await Poster(timeout=0.05).post(url, b"x", {})
    server.close()


async def test_refused_and_garbage() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def garbage(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"hello\r\n\r\n")
        return False

    with pytest.raises(PostConnectionError):
        await Poster(timeout=1).post(f"http://127.0.0.1:{port}/", b"x", {})
    server, url, _ = await _serve(garbage)
    with pytest.raises(PostConnectionError):
        await Poster(timeout=1).post(url, b"x", {})
    server.close()
