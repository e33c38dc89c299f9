"""How Stark Bank's transfers for one invoice add up: attempt by attempt.

The rule the re-send paths (reconciliation, the balance wait) and the money report share: an
attempt with ANY ``success`` transfer is settled, whatever else a listing holds for it (a
listing may hold more than one transfer under one ``external_id``, in any order; none is
dropped); one with any ``created``/``processing`` transfer may still succeed; only an attempt
whose every transfer is ``failed`` or ``canceled`` has definitely failed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from starkrelay.bank import Transfer
from starkrelay.ledger.identity import parse_external_id

FAILED_STATUSES = frozenset({"failed", "canceled"})

Attempts = dict[int, list[Transfer]]
"""One invoice's forward attempts: attempt number -> every transfer listed under that
attempt's ``external_id`` (normally one)."""


def unique_transfers(transfers: Iterable[Transfer]) -> list[Transfer]:
    """Each transfer id once (a paged listing may repeat one whose update moved it between
    pages): a ``success`` version wins, else the last one listed."""
    by_id: dict[str, Transfer] = {}
    for transfer in transfers:
        kept = by_id.get(transfer.id)
        if kept is None or kept.status != "success":
            by_id[transfer.id] = transfer
    return list(by_id.values())


def forward_attempts(transfers: Iterable[Transfer]) -> dict[str, Attempts]:
    """Group our forward transfers: invoice id -> attempt -> transfers (listing order kept)."""
    by_invoice: dict[str, Attempts] = defaultdict(lambda: defaultdict(list))
    for transfer in transfers:
        ours = parse_external_id(transfer.external_id)
        if ours is not None:
            invoice_id, attempt = ours
            by_invoice[invoice_id][attempt].append(transfer)
    return by_invoice


def attempt_state(transfers: Sequence[Transfer]) -> str:
    """``settled`` when ANY transfer is ``success``; else ``live`` when any is still
    ``created``/``processing``; else ``failed``."""
    statuses = {t.status for t in transfers}
    if "success" in statuses:
        return "settled"
    if statuses - FAILED_STATUSES:
        return "live"
    return "failed"


def all_failed(attempts: Mapping[int, Sequence[Transfer]]) -> bool:
    """True when the invoice has attempts and every one of them definitely failed."""
    return bool(attempts) and all(attempt_state(t) == "failed" for t in attempts.values())


def first_in(attempts: Mapping[int, Sequence[Transfer]], state: str) -> tuple[int, Transfer] | None:
    """The (attempt, transfer) of the first attempt in `state` (``settled`` or ``live``),
    with its deciding transfer (the success, or a live one); None if no attempt is."""
    wanted = {"settled": {"success"}, "live": {"created", "processing"}}[state]
    for attempt in sorted(attempts):
        transfers = attempts[attempt]
        if attempt_state(transfers) == state:
            return attempt, next(t for t in transfers if t.status in wanted)
    return None
