"""Running Lua scripts by SHA: ``pipelined`` sends given calls in one pipeline;
``ScriptBatcher`` coalesces concurrent calls of one script into one pipeline per event-loop tick.

Under load many requests reach the same script in the same turn of the event loop; sending
each as its own EVALSHA costs a round trip (and a pooled connection) apiece. ``ScriptBatcher``
queues the calls made during one tick and sends them together in one non-transactional
pipeline. What a caller may rely on:

- each call is still its own EVALSHA: its script runs atomically on its own, exactly as if
  called alone (no MULTI: one call's failure never rolls back or blocks another's);
- each caller gets its own reply, or its own error: a script that raises (a ``ResponseError``
  for that call) fails only that caller;
- when the pipeline itself fails (connection lost, timeout), every call in that pipeline
  raises that error, and only those calls: a later tick's calls go in another pipeline. As
  with a single call whose reply was lost, such a script may or may not have run;
- if Redis lost its script cache, the script is loaded and only the calls refused with
  NOSCRIPT (which did not run) are sent again;
- a caller that is cancelled while waiting does not cancel the others' pipeline.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from redis.exceptions import NoScriptError

if TYPE_CHECKING:
    from starkrelay.core.store.connection import Redis

MAX_BATCH = 256
"""Calls per pipeline at most; a fuller tick is split."""

Call = tuple[tuple[str | int | float, ...], "asyncio.Future[Any]"]


def sha1(script: str) -> str:
    """The script's SHA1, as EVALSHA names it."""
    return hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest()


async def pipelined(
    redis: Redis, script: str, numkeys: int, calls: Sequence[Sequence[str | int | float]]
) -> list[Any]:
    """EVALSHA each call in one pipeline, loading the script once if Redis lacks it; raises
    the first call's error."""
    if not calls:
        return []
    sha = sha1(script)
    for attempt in range(2):
        pipe = redis.pipeline(transaction=False)
        for args in calls:
            pipe.evalsha(sha, numkeys, *args)
        try:
            return list(await pipe.execute())
        except NoScriptError:
            if attempt:
                raise
            await redis.script_load(script)  # nothing ran: every call needed it
    raise AssertionError("unreachable")  # pragma: no cover


class ScriptBatcher:
    """Runs ``script`` for concurrent callers, one pipeline per event-loop tick."""

    def __init__(self, redis: Redis, script: str, numkeys: int) -> None:
        self._redis = redis
        self._script = script
        self._sha = sha1(script)
        self._numkeys = numkeys
        self._pending: list[Call] | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self.pipelines = 0
        """Pipelines sent so far (a NOSCRIPT resend counts too); for tests and benchmarks."""

    async def run(self, *args: str | int | float) -> Any:
        """The script's reply for ``args`` (KEYS then ARGV); raises what Redis raised for it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if self._pending is None:
            self._pending = []
            loop.call_soon(self._flush)
        self._pending.append((args, future))
        if len(self._pending) >= MAX_BATCH:
            self._flush()
        return await future

    def _flush(self) -> None:
        batch, self._pending = self._pending, None
        if not batch:
            return
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[Call]) -> None:
        try:
            replies = await self._execute([args for args, _ in batch])
            if any(isinstance(reply, NoScriptError) for reply in replies):
                await self._redis.script_load(self._script)
                again = [n for n, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
                retried = await self._execute([batch[n][0] for n in again])
                for n, reply in zip(again, retried, strict=True):
                    replies[n] = reply
        except BaseException as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), reply in zip(batch, replies, strict=True):
            if future.done():  # the caller was cancelled
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def _execute(self, calls: list[tuple[str | int | float, ...]]) -> list[Any]:
        self.pipelines += 1
        pipe = self._redis.pipeline(transaction=False)
        for args in calls:
            pipe.evalsha(self._sha, self._numkeys, *args)
        return list(await pipe.execute(raise_on_error=False))
