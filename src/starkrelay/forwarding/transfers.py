"""Building forward transfers, and placing the errors of a refused batch on its items."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, fields

from starkrelay.bank import BankInputError, NewTransfer, ProviderError
from starkrelay.core.settings import Settings
from starkrelay.ledger.identity import ForwardItem


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
        """Each field from the setting of its name prefixed ``destination_``."""
        return cls(**{f.name: getattr(settings, f"destination_{f.name}") for f in fields(cls)})


def build_transfer(item: ForwardItem, destination: Destination) -> NewTransfer:
    """The transfer for `item`: its amount, the destination, and its stable identity
    (``external_id`` per attempt, ``invoice:<id>`` tag)."""
    return NewTransfer(
        amount=item.amount,
        **vars(destination),
        external_id=item.external_id,
        tags=(item.tag,),
        description=f"Invoice {item.invoice_id} credited, minus fee",
    )


@dataclass
class BatchVerdict:
    """Where the errors of a refused batch point. Says nothing about what to do: whether an
    item's transfer exists is decided by looking it up, never by an error's wording.

    ``named``: position -> the errors naming it; ``unplaced``: errors naming no position
    (a batch of one needs none: they name its only item).
    """

    named: dict[int, list[ProviderError]] = field(default_factory=lambda: defaultdict(list))
    unplaced: list[ProviderError] = field(default_factory=list)

    def reasons(self, index: int) -> str:
        """The errors naming `index` as one line (``code: message; ...``)."""
        return "; ".join(f"{e.code}: {e.message}" for e in self.named.get(index, []))

    def codes(self, index: int) -> set[str]:
        return {e.code for e in self.named.get(index, [])}


def read_refusal(error: BankInputError, batch_size: int) -> BatchVerdict:
    """Place each provider error on the batch position it names."""
    verdict = BatchVerdict()
    for provider_error in error.errors:
        index = error.item_index(provider_error)
        if index is None and batch_size == 1:
            index = 0
        if index is None or not 0 <= index < batch_size:
            verdict.unplaced.append(provider_error)
        else:
            verdict.named[index].append(provider_error)
    return verdict
