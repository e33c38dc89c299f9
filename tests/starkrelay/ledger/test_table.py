"""The transition table: the documented one is the code's, and its promises hold."""

from __future__ import annotations

import re
from pathlib import Path

from starkrelay.ledger.stages import TRANSITIONS, Evidence, Stage, allowed, markdown_table

DOC = Path(__file__).resolve().parents[3] / "docs" / "money-path.md"


def test_the_documented_table_is_the_codes() -> None:
    text = DOC.read_text(encoding="utf-8")
    found = re.search(r"<!-- transitions -->\n(.*?)<!-- /transitions -->", text, re.S)
    assert found is not None, "docs/money-path.md lost its transitions markers"
    assert found.group(1) == markdown_table()


def test_no_hint_moves_money_or_closes_a_forward() -> None:
    """A webhook body is a hint: the only move it takes is enqueuing the ownership read."""
    hinted = [t for t in TRANSITIONS if Evidence.HINT in t.evidence]
    assert [(t.source, t.target) for t in hinted] == [(Stage.NEW, Stage.QUEUED)]


def test_final_stages_have_no_way_out_and_refused_only_through_our_listing() -> None:
    for final in (Stage.SUCCESS, Stage.SKIPPED):
        assert [t for t in TRANSITIONS if t.source is final] == []
    out_of_refused = [t for t in TRANSITIONS if t.source is Stage.REFUSED]
    assert [(t.target, t.evidence) for t in out_of_refused] == [
        (Stage.QUEUED, frozenset({Evidence.CREDITED_LISTING}))
    ]


def test_a_later_attempt_rests_only_on_a_listed_failure_or_the_balance_read() -> None:
    """The re-send rule: attempt n+1 only when Stark Bank lists attempt n failed."""
    later = [t for t in TRANSITIONS if t.attempt == "next"]
    assert {e for t in later for e in t.evidence} == {Evidence.LISTED_FAILED, Evidence.BALANCE}
    assert all(t.target is Stage.QUEUED for t in later)
    assert Stage.QUEUED not in {t.source for t in later}  # never while a create is on its way
    assert not allowed(Stage.QUEUED, Stage.QUEUED, Evidence.LISTED_FAILED)
