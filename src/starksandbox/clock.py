"""The emulator's clock and the timers that run simulation steps by it.

The clock is the real UTC time plus an offset that only moves forward
(``/sandbox/clock/advance``). Timers are kept by clock time, so advancing the clock fires
every timer that has become due at once: tests never wait for an invoice to go overdue.
Everything here runs on the server's event loop; nothing is thread-safe, nothing needs to be.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime

import structlog

log = structlog.get_logger("starksandbox.clock")

WIRE_FORMAT = "%Y-%m-%dT%H:%M:%S.%f+00:00"


def wire_datetime(moment: datetime) -> str:
    """The API's datetime form: UTC, microseconds always present, ``+00:00``."""
    return moment.astimezone(UTC).strftime(WIRE_FORMAT)


class Clock:
    """Real time shifted by an offset that can only grow."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        """Seconds since the epoch, by the emulator's clock."""
        return time.time() + self.offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"the clock only moves forward; got {seconds} seconds")
        self.offset += seconds


class Timers:
    """Callbacks due at a clock time; run on the loop, in due order, each exactly once.

    A callback that raises is logged and dropped; the others still run.
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        self._stopped = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._heap.clear()

    def at(self, when: float, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the clock reaches ``when`` (epoch seconds)."""
        heapq.heappush(self._heap, (when, next(self._seq), callback))
        self._wake.set()

    def after(self, seconds: float, callback: Callable[[], None]) -> None:
        self.at(self.clock.time() + seconds, callback)

    def poke(self) -> None:
        """Re-check what is due (call after the clock moved)."""
        self._wake.set()

    def pending(self) -> int:
        return len(self._heap)

    def run_due(self) -> int:
        """Run every callback that is due now; returns how many ran."""
        ran = 0
        while self._heap and self._heap[0][0] <= self.clock.time():
            _, _, callback = heapq.heappop(self._heap)
            ran += 1
            try:
                callback()
            except Exception:
                log.exception("sandbox.timer.failed")
        return ran

    async def _run(self) -> None:
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation.
        while not self._stopped:
            self.run_due()
            self._wake.clear()
            timeout = None
            if self._heap:
                timeout = max(0.0, self._heap[0][0] - self.clock.time())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
