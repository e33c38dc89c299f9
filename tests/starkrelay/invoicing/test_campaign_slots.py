"""Slot arithmetic: slot k fires at t0 + k*interval, 8 slots for 24 h / 3 h, 0 = endless."""

from __future__ import annotations

from starkrelay.invoicing.campaign import Campaign

T0 = 1_800_000_000.0
DAY = Campaign(id="c", t0=T0, interval=10800, slots=8, grace=1800)
ENDLESS = Campaign(id="e", t0=T0, interval=10800, slots=None, grace=1800)


def test_slot_times() -> None:
    assert [DAY.fire_at(k) - T0 for k in range(8)] == [k * 3 * 3600 for k in range(8)]
    assert DAY.ends_at() == T0 + 86400
    assert DAY.deadline(2) == T0 + 2 * 10800 + 1800


def test_due_slots_over_the_day() -> None:
    assert list(DAY.due_slots(T0 - 1)) == []
    assert list(DAY.due_slots(T0)) == [0]
    assert list(DAY.due_slots(T0 + 10799.9)) == [0]
    assert list(DAY.due_slots(T0 + 10800)) == [0, 1]
    assert list(DAY.due_slots(T0 + 10 * 86400)) == list(range(8))
    assert list(DAY.due_slots(T0 + 5 * 10800, start=3)) == [3, 4, 5]


def test_next_fire_and_end() -> None:
    assert DAY.next_fire(T0 - 5) == T0
    assert DAY.next_fire(T0 + 1) == T0 + 10800
    assert DAY.next_fire(T0 + 7 * 10800) is None
    assert not DAY.is_over(T0 + 7 * 10800 + 1799)
    assert DAY.is_over(T0 + 7 * 10800 + 1800)


def test_compressed_interval_has_no_float_drift() -> None:
    fast = Campaign(id="f", t0=T0, interval=0.2, slots=8, grace=0.1)
    for k in range(8):
        assert fast.last_due_slot(fast.fire_at(k)) == k


def test_endless_campaign_never_ends() -> None:
    year = T0 + 365 * 86400
    assert ENDLESS.ends_at() is None
    assert not ENDLESS.is_over(year)
    assert ENDLESS.last_due_slot(year) == 365 * 8
    assert ENDLESS.next_fire(year) == ENDLESS.fire_at(365 * 8 + 1)


def test_tags_name_campaign_and_slot_and_round_trip() -> None:
    assert DAY.tag == "campaign:c"
    assert DAY.slot_tag(3) == "campaign:c:slot:3"
    assert Campaign.from_json(DAY.to_json()) == DAY
    assert Campaign.from_json(ENDLESS.to_json()) == ENDLESS


def test_scheduler_ticks_often_enough_to_see_a_slot_within_its_grace() -> None:
    from starkrelay.invoicing.scheduler import tick_seconds

    assert tick_seconds(10800, 1800) == 10.0  # production: capped at 10 s
    assert tick_seconds(7.5, 1.25) == 1.25 / 4  # compressed: the grace decides
    assert tick_seconds(7.5, 60) == 7.5 / 4  # the interval decides
    assert tick_seconds(7.5, 0) == 7.5 / 4  # no grace does not mean a busy loop
    assert tick_seconds(0.01, 0.01) == 0.02  # floor
