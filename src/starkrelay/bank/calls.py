"""How one gateway operation runs: in a worker thread, classified, retried, counted.

Retries name what they retry on: ``InternalServerError`` (HTTP 500), ``UnknownError`` for a
5xx status or a failed connection / timeout (status 0). Everything else is final. Waits grow
exponentially (with jitter) up to ``max_wait`` and stop before ``deadline`` would be exceeded.
``RetryPolicy.off()`` makes one attempt, for tests that want to see the first error.

The SDK folds every non-200/400/500 status into ``UnknownError`` with no status attribute;
to tell a 503 from a 404 we record the status of each response in a thread-local (the SDK
builds one ``starkcore.utils.request.Response`` per call, in the calling thread).
"""

from __future__ import annotations

import threading
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
from starkrelay.ops import metrics

T = TypeVar("T")
log = structlog.get_logger("starkrelay.bank")

_last_status = threading.local()


class _StatusRecordingResponse(sdk_request.Response):  # type: ignore[misc]
    def __init__(self, status: int, content: Any, headers: Any) -> None:
        super().__init__(status=status, content=content, headers=headers)
        _last_status.value = status


def install_status_recorder() -> None:
    """Make the SDK record each response status for this module (idempotent)."""
    if sdk_request.Response is not _StatusRecordingResponse:
        sdk_request.Response = _StatusRecordingResponse


class TransientBankError(Exception):
    """Internal: a failure worth another attempt; ``kind`` labels metrics and logs."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for transient failures: first wait ``initial``, doubling up to ``max_wait``,
    never starting an attempt after ``deadline`` seconds from the first one."""

    deadline: float
    max_wait: float
    initial: float = 0.2

    @classmethod
    def off(cls) -> RetryPolicy:
        """A single attempt: transient failures surface at once as ``BankUnavailableError``."""
        return cls(deadline=0.0, max_wait=0.0, initial=0.0)


def _classify(operation: str, exc: Exception) -> Exception:
    """Map an SDK exception to a gateway error (``TransientBankError`` means retry)."""
    if isinstance(exc, sdk_error.InputErrors):
        errors = [ProviderError(code=str(e.code), message=str(e.message)) for e in exc.errors]
        return BankInputError(operation, errors)
    if isinstance(exc, sdk_error.InternalServerError):
        return TransientBankError("server_error", "HTTP 500")
    if isinstance(exc, sdk_error.UnknownError):
        status = getattr(_last_status, "value", None)
        if status == 0:
            text = str(exc).removeprefix("Unknown exception encountered: ")
            kind = "timeout" if "Timeout" in text else "connection"
            return TransientBankError(kind, text[:200])
        if isinstance(status, int) and status >= 500:
            return TransientBankError("server_error", f"HTTP {status}")
        return BankError(operation, f"unexpected HTTP status {status}")
    if isinstance(exc, KeyError | ValueError | TypeError):
        return BankError(operation, f"malformed response ({type(exc).__name__}: {exc})")
    return exc


def _run_in_thread(operation: str, call: Callable[[], T]) -> T:
    _last_status.value = None
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

    retrying = AsyncRetrying(
        retry=retry_if_exception_type(TransientBankError),
        stop=stop_before_delay(policy.deadline),
        wait=wait_exponential_jitter(
            multiplier=policy.initial, max=policy.max_wait, jitter=policy.initial
        ),
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        async for attempt in retrying:
            with attempt:
                metrics.BANK_CALLS.labels(operation=operation).inc()
                try:
                    return await anyio.to_thread.run_sync(_run_in_thread, operation, call)
                except TransientBankError as exc:
                    metrics.BANK_ERRORS.labels(operation=operation, kind=exc.kind).inc()
                    raise
    except TransientBankError as exc:
        if not quiet:
            log.error("bank.call.unavailable", operation=operation, kind=exc.kind)
        raise BankUnavailableError(operation, exc.kind, str(exc)) from None
    except BankInputError as exc:
        metrics.BANK_ERRORS.labels(operation=operation, kind="input").inc()
        if not quiet:
            log.warning("bank.call.rejected", operation=operation, codes=exc.codes)
        raise
    except BankError:
        metrics.BANK_ERRORS.labels(operation=operation, kind="unexpected").inc()
        raise
    raise AssertionError("unreachable: tenacity returns or raises")  # pragma: no cover
