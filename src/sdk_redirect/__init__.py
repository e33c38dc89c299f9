"""Point the unchanged official ``starkbank`` SDK at another base URL (a starksandbox emulator).

A package of its own, beside ``starkrelay`` and ``starksandbox`` and importing neither: the
service uses it for ``STARK_API_URL`` (``starkrelay.bank``), the emulator's users through
``starksandbox.sdk``; so the service runs without the emulator and the emulator stands alone.

The SDK builds every URL from a literal host (``https://sandbox.api.starkbank.com/`` or
``https://api.starkbank.com/``) and sends it through ``requests.get``/``post``/..., which all
call ``requests.api.request``. We wrap that one function: a URL on a Stark Bank API host is
rewritten to the given base URL, anything else passes through untouched. The signature the
SDK computes is over ``id:time:body`` only, so rewriting the URL does not disturb it.

``point_sdk_at`` is process-wide (the SDK itself is process-wide) and reversible.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import requests
import requests.api

STARK_HOSTS = (
    "https://sandbox.api.starkbank.com/",
    "https://api.starkbank.com/",
)

_lock = threading.Lock()
_original_request: Callable[..., requests.Response] = requests.api.request
_session = threading.local()


def _rewrite(url: str, base_url: str) -> str:
    for host in STARK_HOSTS:
        if url.startswith(host):
            return base_url + "/" + url[len(host) :]
    return url


def _thread_session() -> requests.Session:
    """One keep-alive session per thread: the SDK otherwise opens a connection per call."""
    session: requests.Session | None = getattr(_session, "value", None)
    if session is None:
        session = requests.Session()
        _session.value = session
    return session


def point_sdk_at(base_url: str) -> Callable[[], None]:
    """Send every SDK call to ``base_url`` (e.g. ``http://127.0.0.1:8900``); returns the undo.

    Calling it again replaces the previous target. The undo restores the real hosts.
    """
    base = base_url.rstrip("/")

    def request(method: str, url: str, **kwargs: Any) -> requests.Response:
        target = _rewrite(url, base)
        if target == url:
            return _original_request(method, url, **kwargs)
        return _thread_session().request(method=method, url=target, **kwargs)

    with _lock:
        requests.api.request = request  # type: ignore[assignment]
    return restore_sdk


def restore_sdk() -> None:
    """Undo ``point_sdk_at``: the SDK talks to the real Stark Bank hosts again."""
    with _lock:
        requests.api.request = _original_request


@contextmanager
def sdk_pointed_at(base_url: str) -> Iterator[None]:
    """Context manager form of ``point_sdk_at``."""
    point_sdk_at(base_url)
    try:
        yield
    finally:
        restore_sdk()
