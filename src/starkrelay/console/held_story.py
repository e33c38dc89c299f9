"""The outflow controls' steps in an invoice's story: held over a limit, released by a new
day, approved or rejected by a person (with who and when), read from the invoice's ledger.

Pure, and plain tuples ``(at, kind, title, details)``, so ``story`` wraps them without the two
modules importing each other.
"""

from __future__ import annotations

from collections.abc import Mapping

from starkrelay.core.money import brl

Step = tuple[str | None, str, str, dict[str, str | int]]

LIMITS = {
    "max_amount": "the most one forward may send (FORWARD_MAX_AMOUNT)",
    "daily_limit": "the day's budget (FORWARD_DAILY_LIMIT)",
    "hourly_count": "the forwards allowed in one hour (FORWARD_HOURLY_COUNT)",
}
"""What each limit is, as people read it."""


def held_steps(ledger: Mapping[str, str]) -> list[Step]:
    """The story's outflow-control steps of one invoice's ledger, in no particular order."""
    steps: list[Step] = []
    reason = ledger.get("held_reason")
    if reason is not None:
        amount = ledger.get("held_amount")
        what = LIMITS.get(reason, reason)
        details: dict[str, str | int] = {"limit": reason, "amount": int(amount or 0)}
        first, last = ledger.get("held_since"), ledger.get("held_at")
        title = f"Held for a person's approval: {brl(amount)} would pass {what}; nothing sent"
        steps.append((first or last, "held", title, details))
        if last and first and last != first:
            steps.append((last, "held", f"Held again: {what}", details))
    for name, at in ledger.items():
        if name.startswith("released_next_day:"):
            title = "A new day's budget: enqueued again (FORWARD_RELEASE_HELD_NEXT_DAY)"
            steps.append((at, "released", title, {"attempt": int(name.split(":")[1])}))
    if "approved_at" in ledger:
        by = ledger.get("approved_by", "someone")
        steps.append(
            (ledger["approved_at"], "approved",
             f"Approved by {by}: enqueued again as the same attempt, past the limits",
             {"by": by})
        )  # fmt: skip
    if "rejected_at" in ledger:
        by = ledger.get("rejected_by", "someone")
        steps.append(
            (ledger["rejected_at"], "rejected", f"Rejected by {by}: never sent", {"by": by})
        )
    return steps
