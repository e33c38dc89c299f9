"""Random Brazilian payers: realistic names (Faker ``pt_BR``) and tax ids with valid check digits.

Most payers are people with a CPF; a share (``company_share``) are companies with a CNPJ.
Tax ids are formatted (``123.456.789-09`` / ``12.345.678/0001-95``), never all-equal digits
(those pass a naive checksum but Stark Bank refuses them).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from faker import Faker

from starkrelay.bank.models import Discount, NewInvoice


@dataclass(frozen=True)
class Payer:
    """Who an invoice is addressed to."""

    name: str
    tax_id: str


def _check_digit(digits: list[int], weights: list[int]) -> int:
    remainder = sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
    return 0 if remainder < 2 else 11 - remainder


def cpf_check_digits(base: str) -> str:
    """The two check digits of a 9-digit CPF base."""
    digits = [int(c) for c in base]
    first = _check_digit(digits, list(range(10, 1, -1)))
    second = _check_digit([*digits, first], list(range(11, 1, -1)))
    return f"{first}{second}"


def cnpj_check_digits(base: str) -> str:
    """The two check digits of a 12-digit CNPJ base."""
    digits = [int(c) for c in base]
    first = _check_digit(digits, [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2])
    second = _check_digit([*digits, first], [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2])
    return f"{first}{second}"


def is_valid_cpf(tax_id: str) -> bool:
    """True for an 11-digit CPF (formatted or not) with correct check digits, not all-equal."""
    digits = "".join(c for c in tax_id if c.isdigit())
    if len(digits) != 11 or len(set(digits)) == 1:
        return False
    return cpf_check_digits(digits[:9]) == digits[9:]


def is_valid_cnpj(tax_id: str) -> bool:
    """True for a 14-digit CNPJ (formatted or not) with correct check digits, not all-equal."""
    digits = "".join(c for c in tax_id if c.isdigit())
    if len(digits) != 14 or len(set(digits)) == 1:
        return False
    return cnpj_check_digits(digits[:12]) == digits[12:]


def random_cpf(rng: random.Random) -> str:
    """A valid, formatted CPF."""
    while True:
        base = "".join(str(rng.randrange(10)) for _ in range(9))
        if len(set(base)) > 1:
            d = base + cpf_check_digits(base)
            return f"{d[:3]}.{d[3:6]}.{d[6:9]}-{d[9:]}"


def random_cnpj(rng: random.Random) -> str:
    """A valid, formatted CNPJ (branch 0001)."""
    while True:
        base = "".join(str(rng.randrange(10)) for _ in range(8)) + "0001"
        if len(set(base[:8])) > 1:
            d = base + cnpj_check_digits(base)
            return f"{d[:2]}.{d[2:5]}.{d[5:8]}/{d[8:12]}-{d[12:]}"


class PayerFactory:
    """Random payers; pass ``seed`` for a reproducible sequence."""

    def __init__(self, *, seed: int | None = None, company_share: float = 0.1) -> None:
        self._rng = random.Random(seed)
        self._faker = Faker("pt_BR")
        self._faker.seed_instance(self._rng.randrange(2**32))
        self._company_share = company_share

    @property
    def rng(self) -> random.Random:
        return self._rng

    def payer(self) -> Payer:
        if self._rng.random() < self._company_share:
            return Payer(name=str(self._faker.company()), tax_id=random_cnpj(self._rng))
        surnames = " ".join(str(self._faker.last_name()) for _ in range(self._rng.randint(1, 2)))
        return Payer(name=f"{self._faker.first_name()} {surnames}", tax_id=random_cpf(self._rng))


def build_invoices(
    payers: PayerFactory,
    *,
    count: int,
    amount_min: int,
    amount_max: int,
    due_seconds: float,
    expiration_seconds: int,
    tags: tuple[str, ...],
    now: datetime | None = None,
    discount_percent: float = 0.0,
    discount_seconds: float = 0.0,
) -> list[NewInvoice]:
    """``count`` invoices to random payers, amounts uniform in ``[amount_min, amount_max]``
    cents, due ``due_seconds`` from ``now`` (UTC), all carrying ``tags``. With a positive
    ``discount_percent``, each offers that much off when paid within ``discount_seconds``."""
    start = now or datetime.now(UTC)
    due = (start + timedelta(seconds=due_seconds)).replace(microsecond=0)
    discounts: tuple[Discount, ...] = ()
    if discount_percent > 0:
        until = min(due, (start + timedelta(seconds=discount_seconds)).replace(microsecond=0))
        discounts = (Discount(percentage=discount_percent, due=until),)
    invoices = []
    for _ in range(count):
        payer = payers.payer()
        invoices.append(
            NewInvoice(
                amount=payers.rng.randint(amount_min, amount_max),
                tax_id=payer.tax_id,
                name=payer.name,
                due=due,
                expiration=expiration_seconds,
                tags=tags,
                discounts=discounts,
            )
        )
    return invoices
