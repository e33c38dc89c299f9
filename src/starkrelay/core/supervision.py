"""Supervision of the process's long-running parts: start-up retries, heartbeats, the one way
periodic work runs (``every``), and the one decision that a part is gone for good (the process
must exit so the orchestrator restarts it).

Callers may rely on:

- ``retry_startup`` retries one start-up step on the exceptions it names, with exponential
  backoff capped at ``STARTUP_RETRY_MAX_WAIT_SECONDS``, for at most
  ``STARTUP_RETRY_DEADLINE_SECONDS``; it logs ONE line per failed attempt (no traceback) and
  then re-raises the last error.
- A ``Heartbeat`` is one part's report. ``attempt`` marks start-up progress; ``beat`` is
  called by a running loop, and from its first call on the part is *watched*: liveness fails
  once it has not beaten for ``HEARTBEAT_TIMEOUT_SECONDS``. A part that never beats (a cron
  schedule, a one-shot registration) is never stale.
- ``every`` runs one periodic job as a background part, with start-up, heartbeat and stop
  built in (its docstring says how).
- ``Supervisor.fail`` records the first fatal error only (exit code and a one-line message),
  logs it and calls ``on_fatal`` once; the process then stops and exits with that code.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Literal, TypeVar

import anyio
import structlog
from redis.exceptions import RedisError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential,
)

from starkrelay.core.retry import RetryPolicy
from starkrelay.core.store import Redis, redis_hint

T = TypeVar("T")
log = structlog.get_logger("starkrelay.supervision")

PartState = Literal["starting", "running", "stopped", "failed"]


@dataclass
class Heartbeat:
    """What one background part reports to the supervisor (see the module docstring)."""

    name: str
    state: PartState = "starting"
    detail: str | None = None
    last_beat: float = field(default_factory=time.monotonic)
    watched: bool = False

    def attempt(self, detail: str) -> None:
        """A start-up attempt failed with ``detail``; another follows."""
        self.detail = detail
        self.last_beat = time.monotonic()

    def beat(self) -> None:
        """The part's loop went round once; from now on the part is watched."""
        self.last_beat = time.monotonic()
        self.watched = True

    def running(self) -> None:
        self.state, self.detail = "running", None
        self.last_beat = time.monotonic()

    def silent_for(self, now: float | None = None) -> float:
        return (now if now is not None else time.monotonic()) - self.last_beat


class StartRefused(Exception):
    """A part found at start-up that it can never work as configured (refused credentials,
    say). The process exits with ``exit_code`` and the message, one line, as the reason."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Fatal:
    """Why the process must stop: the exit code and one line for the operator."""

    exit_code: int
    message: str


class Supervisor:
    """The parts of one process and their health. One per process (``app.state``)."""

    def __init__(
        self, heartbeat_timeout: float, on_fatal: Callable[[Fatal], None] | None = None
    ) -> None:
        self.heartbeat_timeout = heartbeat_timeout
        self.on_fatal = on_fatal
        self.parts: dict[str, Heartbeat] = {}
        self.fatal: Fatal | None = None

    def heartbeat(self, name: str) -> Heartbeat:
        """The heartbeat of part ``name`` (created on first use, state ``starting``)."""
        if name not in self.parts:
            self.parts[name] = Heartbeat(name)
        return self.parts[name]

    def fail(self, exit_code: int, message: str) -> None:
        """The process cannot go on: remember the first reason, log it, stop the process."""
        if self.fatal is not None:
            return
        self.fatal = Fatal(exit_code, message)
        log.error("app.fatal", exit_code=exit_code, reason=message)
        if self.on_fatal is not None:
            self.on_fatal(self.fatal)

    def not_running(self) -> list[str]:
        """Names of the parts that are not running (starting, failed or stopped)."""
        return [name for name, part in self.parts.items() if part.state != "running"]

    def unhealthy(self) -> dict[str, str]:
        """Parts that make the process unhealthy (liveness): failed, or watched and silent
        for longer than the heartbeat timeout. Empty when the process is healthy."""
        now = time.monotonic()
        found: dict[str, str] = {}
        for name, part in self.parts.items():
            if part.state == "failed":
                found[name] = f"failed: {part.detail}"
            elif part.watched and part.state == "running":
                silent = part.silent_for(now)
                if silent > self.heartbeat_timeout:
                    found[name] = f"no heartbeat for {silent:.0f}s"
        return found


async def retry_startup(
    step: Callable[[], Awaitable[T]],
    *,
    part: Heartbeat,
    policy: RetryPolicy,
    retry_on: tuple[type[BaseException], ...],
    what: str,
    hint: Callable[[BaseException], str | None] | None = None,
) -> T:
    """Run ``step`` until it succeeds, retrying ``retry_on`` per ``policy`` (one log line
    ``<part>.start.retrying`` per failed attempt, with ``hint(error)``: what to check); the
    last error propagates after the deadline, any other error at once."""

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        detail = f"{type(error).__name__}: {error}" if error is not None else "unknown"
        part.attempt(f"{what}: {detail}")
        advice = hint(error) if hint is not None and error is not None else None
        log.warning(
            f"{part.name}.start.retrying",
            step=what,
            attempt=state.attempt_number,
            error=detail[:300],
            **({"hint": advice} if advice else {}),
            retry_in_seconds=round(state.upcoming_sleep, 2),
        )

    retrying = AsyncRetrying(
        retry=retry_if_exception_type(retry_on),
        stop=stop_after_delay(policy.deadline),
        wait=wait_exponential(multiplier=policy.initial, min=policy.initial, max=policy.max_wait),
        before_sleep=before_sleep,
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            return await step()
    raise AssertionError("unreachable: tenacity returns or raises")  # pragma: no cover


async def wait_for_redis(redis: Redis, policy: RetryPolicy, part: Heartbeat) -> None:
    """A start-up step for ``every``: return once Redis answers, retried per ``policy``."""
    await retry_startup(
        redis.ping, part=part, policy=policy, retry_on=(RedisError,), what="Redis", hint=redis_hint
    )


BEAT_SECONDS = 5.0
"""Longest silence of a periodic part's heartbeat while it waits for its next run."""


@asynccontextmanager
async def every(
    seconds: float | Callable[[], float],
    job: Callable[[], Awaitable[object]],
    heartbeat: Heartbeat | None = None,
    *,
    startup: Callable[[Heartbeat], Awaitable[object]] | None = None,
    watch_job: bool = True,
) -> AsyncIterator[None]:
    """Background part: ``job`` again and again until exit. Callers may rely on:

    - Start-up (on enter): ``startup(heartbeat)`` when given (``wait_for_redis``, say); its
      error propagates and the part never starts.
    - Timing: a number of ``seconds`` runs ``job`` at once, then that long after each run
      ends; a callable is asked before every run, the first included, how long to wait (the
      time to a cron's next moment). Runs never overlap; a missed one is not made up.
    - Heartbeat: beaten as each run starts and at least every ``BEAT_SECONDS`` while waiting,
      so a run that hangs shows as a stale part; with ``watch_job=False`` the beats go on
      during a run too (a job that may rightly outlast ``HEARTBEAT_TIMEOUT_SECONDS``).
    - Errors: ``job`` handles those it expects (it logs them; the next run retries); anything
      it raises ends the part, and so the process.
    - Stop (on exit): the wait ends at once; a run in progress is finished first.
    """
    beats = heartbeat or Heartbeat(getattr(job, "__name__", "periodic_job"))
    if startup is not None:
        await startup(beats)
    stop = anyio.Event()

    async def pause(wait: float) -> None:
        until = time.monotonic() + wait
        while not stop.is_set() and (left := until - time.monotonic()) > 0:
            beats.beat()
            with anyio.move_on_after(min(BEAT_SECONDS, left)):
                await stop.wait()

    async def run() -> None:
        beats.beat()
        if watch_job:
            await job()
            return
        async with anyio.create_task_group() as beating:
            beating.start_soon(pause, float("inf"))
            await job()
            beating.cancel_scope.cancel()

    async def loop() -> None:
        wait = seconds() if callable(seconds) else 0.0
        while not stop.is_set():
            await pause(wait)
            if not stop.is_set():
                await run()
                wait = seconds() if callable(seconds) else seconds

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(loop)
        try:
            yield
        finally:
            stop.set()
