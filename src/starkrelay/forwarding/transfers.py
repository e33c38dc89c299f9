"""Building forward transfers and reading Stark Bank's verdict on a refused batch."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from starkrelay.bank import BankInputError, NewTransfer, ProviderError
from starkrelay.forwarding.items import ForwardItem
from starkrelay.settings import Settings


@dataclass(frozen=True)
class Destination:
    """The account every forward transfer pays (``DESTINATION_*`` settings)."""

    bank_code: str
    branch_code: str
    account_number: str
    name: str
    tax_id: str
    account_type: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Destination:
        return cls(
            bank_code=settings.destination_bank_code,
            branch_code=settings.destination_branch_code,
            account_number=settings.destination_account_number,
            name=settings.destination_name,
            tax_id=settings.destination_tax_id,
            account_type=settings.destination_account_type,
        )


def build_transfer(item: ForwardItem, destination: Destination) -> NewTransfer:
    """The transfer for `item`: its amount, the destination, and its stable identity
    (``external_id`` per attempt, ``invoice:<id>`` tag)."""
    return NewTransfer(
        amount=item.amount,
        name=destination.name,
        tax_id=destination.tax_id,
        bank_code=destination.bank_code,
        branch_code=destination.branch_code,
        account_number=destination.account_number,
        account_type=destination.account_type,
        external_id=item.external_id,
        tags=(item.tag,),
        description=f"Invoice {item.invoice_id} credited, minus fee",
    )


def is_duplicate_external_id(error: ProviderError) -> bool:
    """True when Stark Bank refused an item because its ``external_id`` was already used
    (a malformed ``external_id`` is a validation error, not a duplicate)."""
    if error.code.lower() in {"duplicatedexternalid", "duplicateexternalid"}:
        return True
    text = error.message.lower()
    return "external" in text and any(
        word in text for word in ("duplicat", "already", "unique", "repeated")
    )


@dataclass
class BatchVerdict:
    """A refused batch split into what to do with each position.

    ``duplicates``: already forwarded (confirm by tag); ``invalid``: position -> reasons
    (dead-letter); ``unplaced``: errors naming no position (retry item by item to find out).
    """

    duplicates: set[int] = field(default_factory=set)
    invalid: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    unplaced: list[ProviderError] = field(default_factory=list)

    @property
    def refused(self) -> set[int]:
        return self.duplicates | set(self.invalid)


def read_refusal(error: BankInputError, batch_size: int) -> BatchVerdict:
    """Place each provider error on the batch position it names (a batch of one needs none)."""
    verdict = BatchVerdict()
    for provider_error in error.errors:
        index = error.item_index(provider_error)
        if index is None and batch_size == 1:
            index = 0
        if index is None or not 0 <= index < batch_size:
            verdict.unplaced.append(provider_error)
        elif is_duplicate_external_id(provider_error):
            verdict.duplicates.add(index)
        else:
            verdict.invalid[index].append(f"{provider_error.code}: {provider_error.message}")
    verdict.duplicates -= set(verdict.invalid)
    return verdict
