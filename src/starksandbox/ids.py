"""Identifiers and cursors in the API's shapes.

Ids are strings of 16 decimal digits, unique within a server, drawn from a seeded generator
so that a given seed replays the same ids. Cursors are opaque URL-safe strings.
"""

from __future__ import annotations

import base64
import random


class IdFactory:
    """Hands out unique 16-digit ids and 32-digit transaction ids."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._used: set[str] = set()

    def new(self) -> str:
        while True:
            value = str(self._rng.randrange(4_000_000_000_000_000, 7_000_000_000_000_000))
            if value not in self._used:
                self._used.add(value)
                return value

    def transaction(self) -> str:
        return str(self._rng.randrange(10**31, 10**32))

    def hex32(self) -> str:
        return f"{self._rng.getrandbits(128):032x}"


def encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"p:{position}".encode()).decode()


def decode_cursor(cursor: str) -> int | None:
    """The position a cursor names, or None if it is not one of ours."""
    try:
        text = base64.urlsafe_b64decode(cursor.encode() + b"==").decode()
    except (ValueError, UnicodeDecodeError):
        return None
    if not text.startswith("p:") or not text[2:].isdigit():
        return None
    return int(text[2:])
