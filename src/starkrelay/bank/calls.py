"""How one gateway operation runs: in a worker thread, classified, retried, counted.

Retries name what they retry on: ``InternalServerError`` (HTTP 500), ``UnknownError`` for
HTTP 429 (throttled), a 5xx status or a failed connection / timeout (status 0). Everything
else is final. Waits grow exponentially (with jitter) up to ``max_wait``, never shorter than
a ``Retry-After`` Stark Bank sent, and stop before ``deadline`` would be exceeded; then the
caller gets ``BankUnavailableError`` and waits per ``RetryPolicy.backoff`` for as long as it
takes (Stark Bank being down or throttling is never a verdict on what was asked).
``RetryPolicy.off()`` makes one attempt, for tests that want to see the first error.

``BANK_HEALTH`` remembers, per process, since when Stark Bank has been failing or throttling
(cleared by the next call that succeeds); the metrics, the status API and the console read it.

The SDK folds every non-200/400/500 status into ``UnknownError`` with no status attribute;
to tell a 503 from a 404 we record the status of each response in a thread-local (the SDK
builds one ``starkcore.utils.request.Response`` per call, in the calling thread).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio.to_thread
import starkcore.utils.request as sdk_request
import structlog
from starkbank import error as sdk_error
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_before_delay,
    wait_exponential_jitter,
)

from starkrelay.bank.errors import BankError, BankInputError, BankUnavailableError
from starkrelay.bank.models import ProviderError
from starkrelay.core import metrics
from starkrelay.core.retry import RetryPolicy

T = TypeVar("T")
log = structlog.get_logger("starkrelay.bank")

_last_status = threading.local()


class _StatusRecordingResponse(sdk_request.Response):  # type: ignore[misc]
    def __init__(self, status: int, content: Any, headers: Any) -> None:
        super().__init__(status=status, content=content, headers=headers)
        _last_status.value = status
        _last_status.retry_after = retry_after_of(headers)


def retry_after_of(headers: Any) -> float | None:
    """``Retry-After`` in seconds (the delay form; an HTTP date counts as absent)."""
    try:
        value = headers.get("Retry-After") if headers else None
        return max(0.0, float(value)) if value is not None else None
    except (AttributeError, TypeError, ValueError):
        return None


def install_status_recorder() -> None:
    """Make the SDK record each response status for this module (idempotent)."""
    if sdk_request.Response is not _StatusRecordingResponse:
        sdk_request.Response = _StatusRecordingResponse


class TransientBankError(Exception):
    """Internal: a failure worth another attempt; ``kind`` labels metrics and logs."""

    def __init__(self, kind: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after


@dataclass
class BankHealth:
    """Since when this process has seen Stark Bank failing or throttling (None: healthy)."""

    since: float | None = None
    kind: str = ""
    operation: str = ""
    last_at: float | None = None

    def failed(self, operation: str, kind: str) -> None:
        now = time.time()
        if self.since is None:
            self.since = now
            log.warning("bank.degraded", operation=operation, kind=kind)
        self.kind, self.operation, self.last_at = kind, operation, now
        metrics.BANK_DEGRADED.set(1)
        metrics.BANK_DEGRADED_SINCE.set(self.since)

    def answered(self) -> None:
        if self.since is not None:
            log.info("bank.recovered", after_seconds=round(time.time() - self.since, 3))
            self.since, self.kind, self.operation, self.last_at = None, "", "", None
            metrics.BANK_DEGRADED.set(0)
            metrics.BANK_DEGRADED_SINCE.set(0)

    def as_dict(self) -> dict[str, str | float | None]:
        return {
            "state": "healthy" if self.since is None else self.kind,
            "since": self.since,
            "last_failure_at": self.last_at,
            "operation": self.operation or None,
        }


BANK_HEALTH = BankHealth()


def transient_for_status(
    status: int | None, text: str, retry_after: float | None = None
) -> TransientBankError | None:
    """The transient failure an HTTP status means (429, 5xx, or 0: no answer), else None.
    The one place that says what waiting can change."""
    if status == 429:
        return TransientBankError("throttled", "HTTP 429 Too Many Requests", retry_after)
    if status == 0:
        return TransientBankError("timeout" if "Timeout" in text else "connection", text[:200])
    if isinstance(status, int) and status >= 500:
        return TransientBankError("server_error", f"HTTP {status}")
    return None


def _classify(operation: str, exc: Exception) -> Exception:
    """Map an SDK exception to a gateway error (``TransientBankError`` means retry)."""
    if isinstance(exc, sdk_error.InputErrors):
        errors = [ProviderError(code=str(e.code), message=str(e.message)) for e in exc.errors]
        return BankInputError(operation, errors)
    if isinstance(exc, sdk_error.InternalServerError):
        return TransientBankError("server_error", "HTTP 500")
    if isinstance(exc, sdk_error.UnknownError):
        status = getattr(_last_status, "value", None)
        text = str(exc).removeprefix("Unknown exception encountered: ")
        retry_after = getattr(_last_status, "retry_after", None)
        return transient_for_status(status, text, retry_after) or BankError(
            operation, f"unexpected HTTP status {status}"
        )
    if isinstance(exc, KeyError | ValueError | TypeError):
        return BankError(operation, f"malformed response ({type(exc).__name__}: {exc})")
    return exc


def _run_in_thread(operation: str, call: Callable[[], T]) -> T:
    _last_status.value = None
    _last_status.retry_after = None
    try:
        return call()
    except Exception as exc:
        mapped = _classify(operation, exc)
        if mapped is exc:
            raise
        raise mapped from None


async def run_bank_call(
    operation: str, call: Callable[[], T], policy: RetryPolicy, *, quiet: bool = False
) -> T:
    """Run ``call`` (a blocking SDK call) off the event loop, retried per ``policy``.

    Raises ``BankInputError`` (not retried), ``BankUnavailableError`` (transient failures until
    the deadline) or ``BankError``. Counts calls and errors by kind in the metrics registry.
    ``quiet=True`` leaves logging the final failure to the caller (retries are still logged).
    """

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "bank.call.retrying",
            operation=operation,
            attempt=state.attempt_number,
            kind=getattr(exc, "kind", "unknown"),
            wait_seconds=round(state.upcoming_sleep, 3),
        )

    exponential = wait_exponential_jitter(
        multiplier=policy.initial, max=policy.max_wait, jitter=policy.initial
    )

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        asked = float(getattr(exc, "retry_after", None) or 0.0)
        return max(float(exponential(state)), asked)

    retrying = AsyncRetrying(
        retry=retry_if_exception_type(TransientBankError),
        stop=stop_before_delay(policy.deadline),
        wait=wait,
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        async for attempt in retrying:
            with attempt:
                metrics.BANK_CALLS.labels(operation=operation).inc()
                try:
                    answer = await anyio.to_thread.run_sync(_run_in_thread, operation, call)
                except TransientBankError as exc:
                    metrics.BANK_ERRORS.labels(operation=operation, kind=exc.kind).inc()
                    raise
                BANK_HEALTH.answered()
                return answer
    except TransientBankError as exc:
        BANK_HEALTH.failed(operation, exc.kind)
        if not quiet:
            log.error("bank.call.unavailable", operation=operation, kind=exc.kind)
        raise BankUnavailableError(operation, exc.kind, str(exc), exc.retry_after) from None
    except BankInputError as exc:
        BANK_HEALTH.answered()
        metrics.BANK_ERRORS.labels(operation=operation, kind="input").inc()
        if not quiet:
            log.warning("bank.call.rejected", operation=operation, codes=exc.codes)
        raise
    except BankError:
        metrics.BANK_ERRORS.labels(operation=operation, kind="unexpected").inc()
        raise
    raise AssertionError("unreachable: tenacity returns or raises")  # pragma: no cover
