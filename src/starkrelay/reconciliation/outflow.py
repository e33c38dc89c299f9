"""Unexplained outflow: money leaving for the destination that no credit of ours accounts for.

A transfer to the destination account explains itself only through one of OUR credited
invoices: its ``invoice:<id>`` tag or its ``external_id`` (``invoice-<id>[-r<n>]``) must name an
invoice Stark Bank lists, read with our credentials, as ``credited``. Each such invoice
explains ONE live transfer (``created``, ``processing`` or ``success``; a ``success`` first)
of at most its ``amount - fee``. Everything else is a finding:

- ``no credited invoice of ours``: no tag or external id of ours, or it names an invoice that
  was never credited in our workspace;
- ``forwarded more than once``: a second (third...) live transfer for one invoice;
- ``forwarded more than amount - fee``: the excess of the one explained transfer.

``failed`` and ``canceled`` transfers moved no money and are never findings. An invoice
credited before the report's window is still found: the ids a transfer names but the window's
credited logs do not are looked up by id (up to 100 per call, only when there are any).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

from starkrelay.bank import BankGateway, Transfer
from starkrelay.forwarding.transfers import Destination
from starkrelay.ledger.identity import parse_external_id

LIVE_STATUSES = frozenset({"created", "processing", "success"})
_TAG = "invoice:"
_LOOKUP_BATCH = 100


@dataclass(frozen=True)
class Outflow:
    """One finding: `amount` cents of transfer `transfer_id` that nothing of ours explains."""

    transfer_id: str
    amount: int
    status: str
    external_id: str
    invoice_id: str
    reason: str

    def as_row(self) -> dict[str, str | int]:
        return asdict(self)


def goes_to(transfer: Transfer, destination: Destination | None) -> bool:
    """True when `transfer` pays `destination` (bank, branch, account); any when None."""
    if destination is None:
        return True
    return (
        transfer.bank_code.lstrip("0") == destination.bank_code.lstrip("0")
        and transfer.branch_code == destination.branch_code
        and transfer.account_number == destination.account_number
    )


def tagged_invoices(transfer: Transfer) -> list[str]:
    """The invoice ids a transfer's ``invoice:<id>`` tags name."""
    return [tag[len(_TAG) :] for tag in transfer.tags if tag.startswith(_TAG)]


def named_invoices(transfer: Transfer) -> list[str]:
    """The invoice ids a transfer names: its ``invoice:<id>`` tags, then its external id's."""
    names = tagged_invoices(transfer)
    parsed = parse_external_id(transfer.external_id)
    if parsed is not None and parsed[0] not in names:
        names.append(parsed[0])
    return names


async def credited_nets(bank: BankGateway, invoice_ids: Iterable[str]) -> dict[str, int]:
    """``amount - fee`` of each of `invoice_ids` that Stark Bank lists as credited for us
    (any date; the first credited log listed wins). Ids that are not Stark Bank ids (digits)
    are never sent and never found."""
    wanted = sorted({i for i in invoice_ids if i.isdigit()})
    nets: dict[str, int] = {}
    for start in range(0, len(wanted), _LOOKUP_BATCH):
        batch = wanted[start : start + _LOOKUP_BATCH]
        async for entry in bank.iter_invoice_logs(types=["credited"], invoice_ids=batch):
            nets.setdefault(entry.invoice.id, entry.invoice.amount - entry.invoice.fee)
    return nets


def judge_outflow(
    transfers: Iterable[Transfer], nets: Mapping[str, int], destination: Destination | None
) -> list[Outflow]:
    """The findings among `transfers`, given the net of every credited invoice of ours."""
    findings: list[Outflow] = []
    by_invoice: dict[str, list[Transfer]] = defaultdict(list)
    for transfer in transfers:
        if transfer.status not in LIVE_STATUSES or not goes_to(transfer, destination):
            continue
        names = named_invoices(transfer)
        invoice_id = next((name for name in names if name in nets), None)
        if invoice_id is None:
            named = names[0] if names else ""
            findings.append(
                _finding(transfer, transfer.amount, named, "no credited invoice of ours")
            )
        else:
            by_invoice[invoice_id].append(transfer)
    for invoice_id, live in by_invoice.items():
        live.sort(key=_explaining_first)
        explained, *extra = live
        if explained.amount > nets[invoice_id]:
            excess = explained.amount - nets[invoice_id]
            findings.append(
                _finding(explained, excess, invoice_id, "forwarded more than amount - fee")
            )
        for transfer in extra:
            findings.append(
                _finding(transfer, transfer.amount, invoice_id, "forwarded more than once")
            )
    return findings


async def unexplained_outflow(
    bank: BankGateway,
    transfers: Iterable[Transfer],
    credited_net: Mapping[str, int],
    destination: Destination | None,
) -> list[Outflow]:
    """``judge_outflow`` over `transfers`, after looking up (by id, any date) the credits
    of invoices the transfers name that `credited_net` (the window's credits) lacks."""
    transfers = list(transfers)
    unknown = {
        name
        for t in transfers
        if t.status in LIVE_STATUSES and goes_to(t, destination)
        for name in named_invoices(t)
        if name not in credited_net
    }
    nets = dict(credited_net)
    if unknown:
        nets |= await credited_nets(bank, unknown)
    return judge_outflow(transfers, nets, destination)


def _explaining_first(transfer: Transfer) -> tuple[bool, float, str]:
    """A success before a live one, then the earliest created."""
    created = transfer.created.timestamp() if transfer.created else float("inf")
    return transfer.status != "success", created, transfer.id


def _finding(transfer: Transfer, amount: int, invoice_id: str, reason: str) -> Outflow:
    return Outflow(
        transfer_id=transfer.id,
        amount=amount,
        status=transfer.status,
        external_id=transfer.external_id or "",
        invoice_id=invoice_id,
        reason=reason,
    )
