"""A small HTTP/1.1 client for webhook deliveries: POST only, pooled keep-alive connections.

General-purpose async clients spend far more time per request than a delivery needs; this
one writes the request in one go and reads the status line, headers and body
(``Content-Length``, chunked, or until close). ``https`` URLs use the default TLS context.
A reused keep-alive connection that turns out closed is retried once on a fresh one.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from urllib.parse import urlsplit

Origin = tuple[str, str, int]
Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class PostTimeout(Exception):
    """The receiver did not answer within the timeout."""


class PostConnectionError(Exception):
    """The receiver could not be reached, or broke the connection or the protocol."""


class _Stale(Exception):
    """A pooled connection was closed by the peer before any answer."""


class Poster:
    """POSTs to any URL; keeps up to ``max_idle`` idle connections per origin."""

    def __init__(self, timeout: float, max_idle: int = 64) -> None:
        self.timeout = timeout
        self.max_idle = max_idle
        self._idle: dict[Origin, list[Connection]] = {}
        self._tls: ssl.SSLContext | None = None

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """Send and return the HTTP status; raises ``PostTimeout`` or ``PostConnectionError``."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PostConnectionError(f"not an http(s) URL: {url!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        origin: Origin = (parts.scheme, parts.hostname, port)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        lines = [f"POST {target} HTTP/1.1", f"Host: {parts.netloc}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines += [f"Content-Length: {len(body)}", "Connection: keep-alive", "", ""]
        request = "\r\n".join(lines).encode("latin-1") + body
        try:
            async with asyncio.timeout(self.timeout):
                while True:
                    connection, reused = await self._connect(origin)
                    try:
                        return await self._exchange(origin, connection, request, reused)
                    except _Stale:
                        continue
        except TimeoutError:
            raise PostTimeout(f"no answer within {self.timeout:g} s") from None
        except (
            OSError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ValueError,
        ) as error:
            raise PostConnectionError(f"{type(error).__name__}: {error}") from None

    async def close(self) -> None:
        for connections in self._idle.values():
            for _, writer in connections:
                writer.close()
        self._idle.clear()

    async def _connect(self, origin: Origin) -> tuple[Connection, bool]:
        pool = self._idle.get(origin)
        while pool:
            reader, writer = pool.pop()
            if not writer.is_closing() and not reader.at_eof():
                return (reader, writer), True
            writer.close()
        scheme, host, port = origin
        tls = None
        if scheme == "https":
            if self._tls is None:
                self._tls = ssl.create_default_context()
            tls = self._tls
        return await asyncio.open_connection(host, port, ssl=tls), False

    async def _exchange(
        self, origin: Origin, connection: Connection, request: bytes, reused: bool
    ) -> int:
        reader, writer = connection
        try:
            writer.write(request)
            await writer.drain()
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as error:
                if reused and not error.partial:
                    raise _Stale from None
                raise
            lines = head.decode("latin-1").split("\r\n")
            status_line = lines[0].split(" ", 2)
            if len(status_line) < 2 or not status_line[0].startswith("HTTP/"):
                raise ValueError(f"not an HTTP status line: {lines[0][:60]!r}")
            status = int(status_line[1])
            fields: dict[str, str] = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name:
                    fields[name.strip().lower()] = value.strip()
            keep = fields.get("connection", "").lower() != "close"
            if status in (204, 304) or 100 <= status < 200:
                pass
            elif "content-length" in fields:
                await reader.readexactly(int(fields["content-length"]))
            elif "chunked" in fields.get("transfer-encoding", "").lower():
                await _read_chunks(reader)
            else:
                await reader.read()
                keep = False
        except BaseException:
            writer.close()
            if reused:
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
            raise
        pool = self._idle.setdefault(origin, [])
        if keep and len(pool) < self.max_idle:
            pool.append(connection)
        else:
            writer.close()
        return status


async def _read_chunks(reader: asyncio.StreamReader) -> None:
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return
        await reader.readexactly(size + 2)
