"""Random payers: Brazilian names, CPFs and CNPJs whose check digits Stark Bank accepts."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from faker import Faker

from starkrelay.invoicing.payers import (
    PayerFactory,
    build_invoices,
    cnpj_check_digits,
    cpf_check_digits,
    is_valid_cnpj,
    is_valid_cpf,
    random_cnpj,
    random_cpf,
)


def test_known_check_digits() -> None:
    assert cpf_check_digits("529982247") == "25"
    assert cpf_check_digits("012345678") == "90"
    assert cnpj_check_digits("112223330001") == "81"
    assert cnpj_check_digits("200181830001") == "80"


def test_validators_refuse_wrong_digits_and_repeated_numbers() -> None:
    assert is_valid_cpf("529.982.247-25")
    assert is_valid_cpf("52998224725")
    assert not is_valid_cpf("529.982.247-26")
    assert not is_valid_cpf("000.000.000-00")
    assert not is_valid_cpf("111.111.111-11")
    assert is_valid_cnpj("20.018.183/0001-80")
    assert not is_valid_cnpj("20.018.183/0001-81")
    assert not is_valid_cnpj("00.000.000/0000-00")


def test_agrees_with_faker_on_thousands_of_tax_ids() -> None:
    faker = Faker("pt_BR")
    faker.seed_instance(7)
    assert all(is_valid_cpf(faker.cpf()) for _ in range(2000))
    assert all(is_valid_cnpj(faker.cnpj()) for _ in range(2000))


def test_generated_tax_ids_are_valid_and_formatted() -> None:
    rng = random.Random(3)
    for _ in range(2000):
        cpf, cnpj = random_cpf(rng), random_cnpj(rng)
        assert is_valid_cpf(cpf)
        assert len(cpf) == 14
        assert cpf[3] == "."
        assert cpf[11] == "-"
        assert is_valid_cnpj(cnpj)
        assert len(cnpj) == 18
        assert cnpj[10] == "/"


def test_payers_mix_people_and_companies_with_real_names() -> None:
    factory = PayerFactory(seed=11, company_share=0.2)
    payers = [factory.payer() for _ in range(500)]
    people = [p for p in payers if is_valid_cpf(p.tax_id)]
    companies = [p for p in payers if is_valid_cnpj(p.tax_id)]
    assert len(people) + len(companies) == 500
    assert 50 <= len(companies) <= 150
    assert all(len(p.name.split()) >= 2 for p in people)
    assert len({p.tax_id for p in payers}) == 500


def test_same_seed_same_payers() -> None:
    assert [PayerFactory(seed=5).payer() for _ in range(3)] == [
        PayerFactory(seed=5).payer() for _ in range(3)
    ]


def test_invoices_respect_amount_range_due_and_tags() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
    invoices = build_invoices(
        PayerFactory(seed=1),
        count=200,
        amount_min=1000,
        amount_max=1005,
        due_seconds=172800,
        expiration_seconds=5097600,
        tags=("campaign:c", "campaign:c:slot:0"),
        now=now,
    )
    assert len(invoices) == 200
    assert {i.amount for i in invoices} <= set(range(1000, 1006))
    assert len({i.amount for i in invoices}) > 1
    assert all(i.due == now.replace(microsecond=0) + timedelta(days=2) for i in invoices)
    assert all(i.expiration == 5097600 and i.tags == ("campaign:c", "campaign:c:slot:0")
               for i in invoices)  # fmt: skip
