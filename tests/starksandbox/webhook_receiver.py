"""A local webhook receiver on 127.0.0.1 that records what the emulator delivers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Delivery:
    body: bytes
    signature: str
    content_type: str


@dataclass
class Receiver:
    """Records every POST; answers with ``status_for(n)`` for the n-th request (from 0)."""

    url: str = ""
    deliveries: list[Delivery] = field(default_factory=list)
    status_for: Callable[[int], int] = lambda _: 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        while len(self.deliveries) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.deliveries)} deliveries arrived, expected {count}")
            time.sleep(0.005)
        return list(self.deliveries)
