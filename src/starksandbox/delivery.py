"""Signed webhook delivery with attempts, retries and delivery faults.

Each event is POSTed to every webhook subscribed to its resource, as the bytes of
``json.dumps({"event": ...}, sort_keys=True)`` with ``Digital-Signature`` = base64 DER
ECDSA-SHA256 of exactly those bytes by the emulator's key. A 2xx answer marks that webhook
served; the event is ``isDelivered`` once every webhook it was raised for is served. Any
other outcome records an attempt (``badHttpStatus``, ``badConnection`` or ``timeout``) and
schedules the next try after ``retry_schedule[n]`` seconds of the emulator's clock; after
the last one the event stays undelivered. Retries stop once the event is marked delivered
or deleted, or its webhook is deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json

import structlog

from starksandbox.keys import Signer
from starksandbox.models import Attempt, Event
from starksandbox.poster import PostConnectionError, Poster, PostTimeout
from starksandbox.state import Workspace

log = structlog.get_logger("starksandbox.delivery")


class Deliverer:
    """Sends events for one workspace; at most ``delivery_concurrency`` requests in flight."""

    def __init__(self, ws: Workspace, signer: Signer) -> None:
        self.ws = ws
        self.signer = signer
        config = ws.config
        self._poster = Poster(config.delivery_timeout, max_idle=config.delivery_concurrency)
        self._slots = asyncio.Semaphore(config.delivery_concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._signed: dict[str, tuple[bytes, str]] = {}
        ws.on_event = self.enqueue

    def enqueue(self, event: Event) -> None:
        for webhook_id in event.webhook_ids:
            self._plan(event, webhook_id, 0)

    def in_flight(self) -> int:
        return len(self._tasks)

    async def wait_idle(self) -> None:
        """Return once no delivery is in flight (bound it with ``asyncio.timeout``)."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._poster.close()

    def _plan(self, event: Event, webhook_id: str, tries: int) -> None:
        """Apply the delivery faults, then send now or after a delay on the clock."""
        faults = self.ws.faults
        rng = self.ws.fault_rng
        if faults.webhook_drop_rate and rng.random() < faults.webhook_drop_rate:
            self.ws.deliveries_dropped += 1
            log.info("sandbox.delivery.dropped", event_id=event.id, webhook_id=webhook_id)
            return
        copies = 1
        if faults.webhook_duplicate_rate and rng.random() < faults.webhook_duplicate_rate:
            copies = 2
            self.ws.deliveries_duplicated += 1
        for copy in range(copies):
            # Only the original schedules retries, so duplicates do not multiply.
            retry = copy == 0
            delay = faults.webhook_delay
            if faults.webhook_reorder_window:
                delay += rng.uniform(0, faults.webhook_reorder_window)
            if delay > 0:
                self.ws.timers.after(
                    delay, functools.partial(self._spawn, event, webhook_id, tries, retry)
                )
            else:
                self._spawn(event, webhook_id, tries, retry)

    def _spawn(self, event: Event, webhook_id: str, tries: int, retry: bool) -> None:
        sending = self._send(event, webhook_id, tries, retry)
        task = asyncio.get_running_loop().create_task(sending)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _signed_body(self, event: Event) -> tuple[bytes, str]:
        signed = self._signed.get(event.id)
        if signed is None:
            content = json.dumps(event.body(), sort_keys=True).encode()
            signed = (content, self.signer.sign(content))
            self._signed[event.id] = signed
        return signed

    async def _send(self, event: Event, webhook_id: str, tries: int, retry: bool) -> None:
        webhook = self.ws.webhooks.get(webhook_id)
        if webhook is None or webhook.deleted or event.deleted:
            return
        if tries > 0 and (event.is_delivered or webhook_id in event.delivered_to):
            return
        content, signature = self._signed_body(event)
        headers = {"Content-Type": "application/json", "Digital-Signature": signature}
        code = message = ""
        async with self._slots:
            self.ws.deliveries_sent += 1
            try:
                status = await self._poster.post(webhook.url, content, headers)
            except PostTimeout:
                code = "timeout"
                message = f"HTTP POST request timed out after {self.ws.config.delivery_timeout:g} s"
            except PostConnectionError as error:
                code = "badConnection"
                message = f"HTTP POST request failed: {error}"
            else:
                if 200 <= status < 300:
                    self._served(event, webhook_id)
                    return
                code = "badHttpStatus"
                message = f"HTTP POST request returned status {status}"
        self._failed(event, webhook_id, tries if retry else None, code, message)

    def _served(self, event: Event, webhook_id: str) -> None:
        self.ws.deliveries_succeeded += 1
        event.delivered_to.add(webhook_id)
        if all(hook in event.delivered_to for hook in event.webhook_ids):
            event.is_delivered = True
            self._signed.pop(event.id, None)

    def _failed(
        self, event: Event, webhook_id: str, tries: int | None, code: str, message: str
    ) -> None:
        """Record an attempt; schedule the next try unless ``tries`` is None (a duplicate)."""
        ws = self.ws
        attempt = Attempt(
            id=ws.ids.new(),
            code=code,
            message=message,
            event_id=event.id,
            webhook_id=webhook_id,
            created=ws.clock.now(),
        )
        ws.attempts.add(attempt)
        log.info(
            "sandbox.delivery.failed",
            event_id=event.id,
            webhook_id=webhook_id,
            code=code,
            duplicate=tries is None,
        )
        schedule = ws.config.retry_schedule
        if tries is not None and tries < len(schedule):
            after = tries + 1
            ws.timers.after(schedule[tries], lambda: self._plan(event, webhook_id, after))
