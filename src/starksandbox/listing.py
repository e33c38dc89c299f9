"""Tables of entities and the API's listing rules: newest first, ``limit`` 1-100 (default
100, larger values clamped), an opaque ``cursor`` that is ``null`` on the last page, list
filters that match any element, and ``after``/``before`` as inclusive calendar dates in
Brazil time (UTC-3), which is how the real API reads them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta, timezone
from typing import Generic, Protocol, TypeVar

from starksandbox.ids import decode_cursor, encode_cursor
from starksandbox.web import ApiError

BRAZIL = timezone(timedelta(hours=-3))
MAX_LIMIT = 100


class HasId(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=HasId)


class Table(Generic[T]):
    """Entities in creation order with an id index; append-only (deletion is an entity flag).

    ``index`` (optional) files each item under a key too (a log under the id of what it logs),
    so that a listing filtered by those keys walks only their items, not the whole table.
    """

    def __init__(self, index: Callable[[T], str] | None = None) -> None:
        self.items: list[T] = []
        self.by_id: dict[str, T] = {}
        self._index = index
        self._positions: dict[str, list[int]] = {}

    def add(self, item: T) -> T:
        if self._index is not None:
            self._positions.setdefault(self._index(item), []).append(len(self.items))
        self.items.append(item)
        self.by_id[item.id] = item
        return item

    def get(self, item_id: str) -> T | None:
        return self.by_id.get(item_id)

    def find(self, item_id: str, code: str, noun: str) -> T:
        """The item ``item_id``; an unknown or deleted one is refused with ``code`` and
        "<noun> '<id>' was not found"."""
        item = self.by_id.get(item_id)
        if item is None or getattr(item, "deleted", False):
            raise ApiError.one(code, f"{noun} {item_id!r} was not found")
        return item

    def __len__(self) -> int:
        return len(self.items)

    def page(
        self,
        match: Callable[[T], bool],
        limit: int,
        cursor: str | None,
        keys: set[str] | None = None,
    ) -> tuple[list[T], str | None]:
        """Newest first; the cursor is the position of the next match, None when none is left.
        ``keys`` (with an ``index``): only items filed under one of them can match."""
        if keys is None or self._index is None:
            return page_of(self.items, match, limit, cursor)
        positions = sorted({p for key in keys for p in self._positions.get(key, ())})
        return page_of(self.items, match, limit, cursor, positions)


def page_of(
    items: list[T],
    match: Callable[[T], bool],
    limit: int,
    cursor: str | None,
    positions: list[int] | None = None,
) -> tuple[list[T], str | None]:
    """Walk ``items`` (or only those at ``positions``, ascending) from the end; positions stay
    valid as new items are appended."""
    start = len(items) - 1
    if cursor:
        position = decode_cursor(cursor)
        if position is None or position >= len(items):
            raise ApiError.one("invalidCursor", f"Cursor {cursor!r} is not one this API gave out")
        start = position
    walk = range(start, -1, -1) if positions is None else reversed(positions)
    found: list[T] = []
    for index in walk:
        if index > start or not match(items[index]):
            continue
        if len(found) == limit:
            return found, encode_cursor(index)
        found.append(items[index])
    return found, None


def parse_limit(query: dict[str, str]) -> int:
    raw = query.get("limit")
    if raw is None or raw == "":
        return MAX_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        raise ApiError.one(
            "invalidLimit", f"limit must be an integer from 1 to 100, got {raw!r}"
        ) from None
    if limit < 1:
        raise ApiError.one("invalidLimit", f"limit must be an integer from 1 to 100, got {raw!r}")
    return min(limit, MAX_LIMIT)


def parse_list(query: dict[str, str], name: str, lower: bool = False) -> set[str] | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    values = {part.strip() for part in raw.split(",") if part.strip()}
    return {v.lower() for v in values} if lower else values


def parse_day(query: dict[str, str], name: str) -> date | None:
    raw = query.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        raise ApiError.one(
            "invalidDate", f"{name} must be a date like 2024-01-31, got {raw!r}"
        ) from None


def parse_bool(query: dict[str, str], name: str) -> bool | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    lowered = raw.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise ApiError.one("invalidParameter", f"{name} must be true or false, got {raw!r}")


def brazil_day(moment: datetime) -> date:
    return moment.astimezone(BRAZIL).date()


def within_days(moments: Iterable[datetime], after: date | None, before: date | None) -> bool:
    """True when any of ``moments`` falls on a Brazil-time day inside [after, before]."""
    if after is None and before is None:
        return True
    for moment in moments:
        day = brazil_day(moment)
        if (after is None or day >= after) and (before is None or day <= before):
            return True
    return False
