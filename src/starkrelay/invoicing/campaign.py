"""The campaign: when each slot fires, how its invoices are tagged, and its Redis record.

Slot ``k`` fires at ``t0 + k * interval`` for ``k`` in ``0 .. slots - 1`` (``slots`` is
``duration / interval``: 8 for 24 h / 3 h; ``None`` when the duration is 0 and the campaign
never ends). ``t0``, the interval and the slot count are written to Redis once, when the
campaign starts, and read back on every restart: changing the settings affects the next
campaign, never the running one. Times are Unix seconds (floats, UTC).

The same facts travel on every invoice the campaign issues (``slot_tags``), so Stark Bank's
records alone can rebuild the campaign when Redis has lost it (``invoicing.lifecycle``):

- ``starkrelay-campaign``: every campaign invoice (finds the latest campaign);
- ``campaign:<id>``: every invoice of one campaign;
- ``campaign:<id>:plan:t0ms-<t0 in ms>:intervalus-<µs>:slots-<n or endless>:graceus-<µs>``;
- ``campaign:<id>:slot:<k>``: the invoices of one slot (the look-up key before any create).

Tags are lower case, without commas or spaces (Stark Bank lower-cases tags and the query
filter joins them with commas). ``t0`` is kept to the millisecond and the interval and grace to
the microsecond, so the plan tag gives back exactly the values of the record.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from starkrelay.core.settings import Settings
from starkrelay.core.store import Store
from starkrelay.invoicing.outcomes import load_outcomes

CAMPAIGN_MARK = "starkrelay-campaign"
"""The tag on every invoice of every campaign."""

_PLAN = re.compile(
    r"^campaign:(?P<id>[a-z0-9-]+):plan:t0ms-(?P<t0>\d+):intervalus-(?P<interval>\d+)"
    r":slots-(?P<slots>\d+|endless):graceus-(?P<grace>\d+)$"
)


@dataclass(frozen=True)
class Campaign:
    """One campaign: its id (used in invoice tags), start ``t0`` and slot geometry.

    ``adopted_at`` is set when the record was rebuilt from Stark Bank's invoices after Redis
    lost it (see ``invoicing.lifecycle``); it is not part of the campaign's identity.
    """

    id: str
    t0: float
    interval: float
    slots: int | None
    grace: float
    adopted_at: float | None = None

    def same_plan(self, other: Campaign) -> bool:
        """True when both describe one campaign (id and schedule), however each was found."""
        return (self.id, self.t0, self.interval, self.slots, self.grace) == (
            other.id,
            other.t0,
            other.interval,
            other.slots,
            other.grace,
        )

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

    @property
    def plan_tag(self) -> str:
        """Tag that carries ``t0``, the interval, the slot count and the grace."""
        slots = "endless" if self.slots is None else str(self.slots)
        return (
            f"campaign:{self.id}:plan:t0ms-{round(self.t0 * 1000)}"
            f":intervalus-{round(self.interval * 1e6)}:slots-{slots}"
            f":graceus-{round(self.grace * 1e6)}"
        )

    def slot_tags(self, slot: int) -> tuple[str, ...]:
        """Every tag of one slot's invoices; the slot tag (unique to the batch) comes last."""
        return (CAMPAIGN_MARK, self.tag, self.plan_tag, self.slot_tag(slot))

    def slot_of(self, tags: tuple[str, ...] | list[str]) -> int | None:
        """The slot an invoice of this campaign belongs to, read from its tags."""
        prefix = f"campaign:{self.id}:slot:"
        for tag in tags:
            if tag.startswith(prefix) and tag[len(prefix) :].isdigit():
                return int(tag[len(prefix) :])
        return None

    @classmethod
    def from_plan_tag(cls, tag: str) -> Campaign | None:
        """The campaign a plan tag describes, or None if ``tag`` is not a plan tag."""
        match = _PLAN.match(tag)
        if match is None:
            return None
        slots = match["slots"]
        interval = int(match["interval"]) / 1e6
        if interval <= 0:
            return None
        return cls(
            id=match["id"],
            t0=int(match["t0"]) / 1000,
            interval=interval,
            slots=None if slots == "endless" else int(slots),
            grace=int(match["grace"]) / 1e6,
        )

    # --- serialisation ------------------------------------------------------------------------
    def log_fields(self) -> dict[str, object]:
        """The plan as the campaign's log events name it."""
        return dict(campaign_id=self.id, t0=self.t0, interval=self.interval, slots=self.slots)

    def to_json(self) -> str:
        data: dict[str, object] = {
            "id": self.id,
            "t0": self.t0,
            "interval": self.interval,
            "slots": self.slots,
            "grace": self.grace,
        }
        if self.adopted_at is not None:
            data["adopted_at"] = self.adopted_at
        return json.dumps(data, sort_keys=True)

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
            adopted_at=None if data.get("adopted_at") is None else float(data["adopted_at"]),
        )


def new_campaign(settings: Settings, now: float | None = None) -> Campaign:
    """A campaign starting at ``now`` with the geometry of ``settings`` (not yet stored).

    ``t0`` is rounded to the millisecond and the interval and grace to the microsecond, the
    precision of the plan tag."""
    start = round(time.time() if now is None else now, 3)
    stamp = datetime.fromtimestamp(start, UTC).strftime("%Y%m%dt%H%M%S")
    return Campaign(
        id=f"{stamp}-{secrets.token_hex(3)}",
        t0=start,
        interval=max(1e-6, round(settings.campaign_interval_seconds, 6)),
        slots=settings.campaign_slot_count,
        grace=round(settings.campaign_grace_seconds, 6),
    )


async def load_campaign(store: Store) -> Campaign | None:
    """The campaign Redis holds, or None (never started, or Redis lost it: see
    ``invoicing.lifecycle.current_campaign``)."""
    text = await store.redis.get(store.keys.campaign())
    return None if text is None else Campaign.from_json(str(text))


async def campaign_finished(store: Store, campaign: Campaign, now: float) -> bool:
    """True when no slot is left: every slot has a final outcome, or every slot's grace passed."""
    if campaign.slots is None:
        return False
    if campaign.is_over(now):
        return True
    outcomes = await load_outcomes(store, campaign.id)
    return all(
        slot in outcomes and outcomes[slot].is_final(campaign.deadline(slot), now)
        for slot in range(campaign.slots)
    )


def describe_end(campaign: Campaign) -> str:
    """When the campaign ends, for people."""
    end = campaign.ends_at()
    if end is None:
        return "never: CAMPAIGN_DURATION_SECONDS was 0"
    return "at " + datetime.fromtimestamp(end, UTC).isoformat(timespec="seconds")
