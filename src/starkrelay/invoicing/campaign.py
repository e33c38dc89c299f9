"""The campaign: when each slot fires, and the one campaign record kept in Redis.

Slot ``k`` fires at ``t0 + k * interval`` for ``k`` in ``0 .. slots - 1`` (``slots`` is
``duration / interval``: 8 for 24 h / 3 h; ``None`` when the duration is 0 and the campaign
never ends). ``t0``, the interval and the slot count are written to Redis once, when the
campaign starts, and read back on every restart: changing the settings affects the next
campaign, never the running one. Times are Unix seconds (floats, UTC).
"""

from __future__ import annotations

import json
import math
import secrets
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from starkrelay.settings import Settings
from starkrelay.store import Keys, Redis


@dataclass(frozen=True)
class Campaign:
    """One campaign: its id (used in invoice tags), start ``t0`` and slot geometry."""

    id: str
    t0: float
    interval: float
    slots: int | None
    grace: float

    # --- slot arithmetic ----------------------------------------------------------------------
    def fire_at(self, slot: int) -> float:
        """When slot ``slot`` is due."""
        return self.t0 + slot * self.interval

    def deadline(self, slot: int) -> float:
        """After this instant a slot that was never attempted is skipped, not issued."""
        return self.fire_at(slot) + self.grace

    def last_due_slot(self, now: float) -> int | None:
        """The highest slot whose time has come at ``now`` (None before ``t0``)."""
        if now < self.t0:
            return None
        # A millionth of an interval of tolerance absorbs float error (0.6 / 0.2 = 2.9999...).
        k = math.floor((now - self.t0) / self.interval + 1e-6)
        if self.slots is not None:
            k = min(k, self.slots - 1)
        return k

    def is_due(self, slot: int, now: float) -> bool:
        """True once slot ``slot``'s time has come (and it belongs to the campaign)."""
        last = self.last_due_slot(now)
        return last is not None and 0 <= slot <= last

    def due_slots(self, now: float, start: int = 0) -> range:
        """Slots ``start..`` whose time has come at ``now``, in order."""
        last = self.last_due_slot(now)
        return range(0) if last is None else range(start, last + 1)

    def next_fire(self, now: float) -> float | None:
        """When the next slot after ``now`` fires, or None if no slot is left."""
        last = self.last_due_slot(now)
        following = 0 if last is None else last + 1
        if self.slots is not None and following >= self.slots:
            return None
        return self.fire_at(following)

    def ends_at(self) -> float | None:
        """The end of the last slot's interval; None for an endless campaign."""
        return None if self.slots is None else self.fire_at(self.slots)

    def is_over(self, now: float) -> bool:
        """True once every slot's time and grace have passed (nothing more will be due)."""
        if self.slots is None:
            return False
        return now >= self.deadline(self.slots - 1)

    # --- tags ---------------------------------------------------------------------------------
    @property
    def tag(self) -> str:
        """Tag on every invoice of this campaign."""
        return f"campaign:{self.id}"

    def slot_tag(self, slot: int) -> str:
        """Tag on the invoices of one slot; the look-up key of a crashed issuance."""
        return f"campaign:{self.id}:slot:{slot}"

    # --- serialisation ------------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Campaign:
        data = json.loads(text)
        slots = data.get("slots")
        return cls(
            id=str(data["id"]),
            t0=float(data["t0"]),
            interval=float(data["interval"]),
            slots=None if slots is None else int(slots),
            grace=float(data["grace"]),
        )


def new_campaign(settings: Settings, now: float | None = None) -> Campaign:
    """A campaign starting at ``now`` with the geometry of ``settings`` (not yet stored)."""
    start = time.time() if now is None else now
    stamp = datetime.fromtimestamp(start, UTC).strftime("%Y%m%dt%H%M%S")
    return Campaign(
        id=f"{stamp}-{secrets.token_hex(3)}",
        t0=start,
        interval=settings.campaign_interval_seconds,
        slots=settings.campaign_slot_count,
        grace=settings.campaign_grace_seconds,
    )


async def load_campaign(redis: Redis, keys: Keys) -> Campaign | None:
    """The current campaign, or None if none was ever started."""
    text = await redis.get(keys.campaign())
    return None if text is None else Campaign.from_json(str(text))


async def load_or_start_campaign(
    redis: Redis, keys: Keys, settings: Settings, now: float | None = None
) -> Campaign:
    """The current campaign; the first caller ever (across replicas) starts it at ``now``.

    ``t0`` is written with SET NX, so concurrent first starts agree on one campaign and a
    restart never moves ``t0``. An ended campaign is returned as is: starting another one
    is ``start_campaign``'s job.
    """
    candidate = new_campaign(settings, now)
    await redis.set(keys.campaign(), candidate.to_json(), nx=True)
    current = await load_campaign(redis, keys)
    if current is None:  # pragma: no cover - only if someone deletes it in between
        raise RuntimeError("the campaign record vanished right after it was written")
    return current


async def campaign_finished(redis: Redis, keys: Keys, campaign: Campaign, now: float) -> bool:
    """True when no slot is left: every slot has an outcome, or every slot's grace passed."""
    if campaign.slots is None:
        return False
    if campaign.is_over(now):
        return True
    return int(await redis.hlen(keys.campaign_slots(campaign.id))) >= campaign.slots


class CampaignRunningError(Exception):
    """A campaign is still running; starting another needs ``force``."""


async def start_campaign(
    redis: Redis, keys: Keys, settings: Settings, *, now: float | None = None, force: bool = False
) -> Campaign:
    """Start a new campaign at ``now``; the previous record moves to the history list.

    Refuses (``CampaignRunningError``) while the current campaign still has slots to come,
    unless ``force``. Slots of the old campaign are never issued again: its id changes.
    """
    moment = time.time() if now is None else now
    current = await load_campaign(redis, keys)
    running = current is not None and not await campaign_finished(redis, keys, current, moment)
    if current is not None and running and not force:
        raise CampaignRunningError(
            f"campaign {current.id} is still running (it ends "
            f"{_describe_end(current)}); use --force to replace it"
        )
    campaign = new_campaign(settings, moment)
    async with redis.pipeline(transaction=True) as pipe:
        if current is not None:
            pipe.lpush(keys.campaign_history(), current.to_json())
        pipe.set(keys.campaign(), campaign.to_json())
        await pipe.execute()
    return campaign


def _describe_end(campaign: Campaign) -> str:
    end = campaign.ends_at()
    if end is None:
        return "never: CAMPAIGN_DURATION_SECONDS was 0"
    return "at " + datetime.fromtimestamp(end, UTC).isoformat(timespec="seconds")
