"""Reading one invoice's story from Redis and from Stark Bank, and finding an invoice by any
id a person may hold (invoice id, transfer id, transfer external id).

Stark Bank being unavailable never hides what Redis knows: the story is assembled from what
could be read, and ``problems`` names what could not.
"""

from __future__ import annotations

import re

import structlog

from starkrelay.api.deps import Services
from starkrelay.bank import BankError, BankInputError, Invoice, InvoiceLog, Transfer, TransferLog
from starkrelay.console.listing import read_ledgers
from starkrelay.console.story import Story, StoryInputs, assemble_story
from starkrelay.core.store import load_deliveries
from starkrelay.forwarding.dead_letters import list_dead_letters
from starkrelay.forwarding.transfers import Destination
from starkrelay.ledger.identity import parse_external_id, tag_for

log = structlog.get_logger(__name__)

_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")


def looks_like_id(text: str) -> bool:
    """True for something that may be an invoice, transfer or external id."""
    return bool(_ID.match(text))


async def _bank_records(
    services: Services, invoice_id: str, problems: list[str]
) -> tuple[Invoice | None, list[InvoiceLog], list[Transfer], list[TransferLog]]:
    bank = services.bank
    invoice: Invoice | None = None
    logs: list[InvoiceLog] = []
    transfers: list[Transfer] = []
    transfer_logs: list[TransferLog] = []
    try:
        try:
            invoice = await bank.get_invoice(invoice_id)
        except BankInputError:
            invoice = None  # not an invoice of this workspace
        if invoice is not None:
            logs = [item async for item in bank.iter_invoice_logs(invoice_ids=[invoice_id])]
        transfers = await bank.find_transfers(tags=[tag_for(invoice_id)])
        transfers = [t for t in transfers if (parse_external_id(t.external_id) or ("",))[0]
                     == invoice_id]  # fmt: skip
        if transfers:
            ids = [t.id for t in transfers]
            transfer_logs = [item async for item in bank.iter_transfer_logs(transfer_ids=ids)]
    except BankError as error:
        log.warning("console.story.bank_unavailable", invoice_id=invoice_id, error=str(error))
        problems.append(f"Stark Bank could not be read ({error}); showing starkrelay's records")
    return invoice, logs, transfers, transfer_logs


async def gather_story(services: Services, invoice_id: str) -> Story | None:
    """The story of ``invoice_id``, or None when neither Stark Bank nor Redis knows it."""
    store = services.store
    problems: list[str] = []
    invoice, logs, transfers, transfer_logs = await _bank_records(services, invoice_id, problems)
    (ledger,) = await read_ledgers(store, [invoice_id])
    deliveries = await load_deliveries(store, invoice_id)
    letters = await list_dead_letters(store, invoice_ids=[invoice_id])
    entry_ids = [v for k, v in ledger.items() if k.startswith("entry:")]
    in_stream: set[str] = set()
    for entry_id in entry_ids:
        if await store.redis.xrange(store.keys.forward_stream(), min=entry_id, max=entry_id):
            in_stream.add(entry_id)
    if invoice is None and not ledger and not deliveries and not transfers and not problems:
        return None
    inputs = StoryInputs(
        invoice_id=invoice_id,
        invoice=invoice,
        invoice_logs=logs,
        transfers=transfers,
        transfer_logs=transfer_logs,
        ledger=ledger,
        deliveries=deliveries,
        dead_letters=letters,
        entries_in_stream=in_stream,
        problems=problems,
        destination=vars(Destination.from_settings(services.settings)),
    )
    return assemble_story(inputs)


async def find_invoice_id(services: Services, query: str) -> str | None:
    """The invoice ``query`` names: a forward external id (``invoice-<id>[-r<n>]``), an
    invoice id (ours in Redis, or Stark Bank's), or a forward transfer's id. None if none."""
    text = query.strip()
    if not looks_like_id(text):
        return None
    ours = parse_external_id(text)
    if ours is not None:
        return ours[0]
    if await services.store.redis.exists(services.store.keys.webhook_ledger(text)):
        return text
    bank = services.bank
    try:
        try:
            return (await bank.get_invoice(text)).id
        except BankInputError:
            pass
        try:
            transfer = await bank.get_transfer(text)
        except BankInputError:
            return None
    except BankError as error:
        log.warning("console.search.bank_unavailable", error=str(error))
        return None
    found = parse_external_id(transfer.external_id)
    return found[0] if found else None
