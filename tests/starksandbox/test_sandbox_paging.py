"""Every SDK ``page`` call walks to a null cursor, newest first, with nothing repeated."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import starkbank

from starksandbox.listing import Table
from starksandbox.testing import running_sandbox

PAYER = {"tax_id": "012.345.678-90", "name": "Maria Oliveira"}


def _walk(page: Callable[..., tuple[list[Any], str | None]], **filters: Any) -> list[Any]:
    seen: list[Any] = []
    cursor = None
    while True:
        items, cursor = page(cursor=cursor, limit=2, **filters)
        assert len(items) <= 2
        seen.extend(items)
        if cursor is None:
            return seen


def test_every_page_call_reaches_the_end() -> None:
    with running_sandbox(initial_balance=10_000, retry_schedule=()) as sb:
        for n in range(3):
            starkbank.webhook.create(url=f"http://127.0.0.1:9/hook-{n}", subscriptions=["transfer"])
        transfers = starkbank.transfer.create(
            [
                starkbank.Transfer(
                    amount=10 + n,
                    name="Stark Bank S.A.",
                    tax_id="20.018.183/0001-80",
                    bank_code="20018183",
                    branch_code="0001",
                    account_number="6341320293482496",
                    account_type="payment",
                    external_id=f"page-{n}",
                )
                for n in range(5)
            ]
        )
        starkbank.invoice.create([starkbank.Invoice(amount=100, **PAYER) for _ in range(3)])
        sb.wait_until(lambda: sb.summary()["transfers"].get("success") == 5)
        sb.wait_until(lambda: sb.summary()["invoices"].get("paid") == 3)
        sb.wait_until(lambda: sb.summary()["attempts"] == 60)

        cases: list[tuple[Callable[..., Any], int]] = [
            (starkbank.transfer.page, 5),
            (starkbank.transfer.log.page, 20),
            (starkbank.invoice.page, 3),
            (starkbank.invoice.log.page, 9),
            (starkbank.webhook.page, 3),
            (starkbank.event.page, 20),
            (starkbank.event.attempt.page, 60),
        ]
        for page, expected in cases:
            seen = _walk(page)
            assert len(seen) == expected, page
            assert len({item.id for item in seen}) == expected, page
            if hasattr(seen[0], "created"):
                created = [item.created for item in seen]
                assert created == sorted(created, reverse=True), page
        first = transfers[0].id
        logs = _walk(starkbank.transfer.log.page, transfer_ids=[first])
        assert [log.type for log in logs] == ["success", "sending", "processing", "created"]


@dataclass(frozen=True)
class _Logged:
    id: str
    subject_id: str
    kind: str


def _pages(
    table: Table[_Logged], keys: set[str], kinds: set[str], limit: int, by_keys: bool
) -> list[tuple[list[str], str | None]]:
    """Every page of the listing of ``kinds`` logs of ``keys``, cursor after cursor."""
    pages: list[tuple[list[str], str | None]] = []
    cursor = None
    while True:
        found, cursor = table.page(
            lambda item: item.subject_id in keys and item.kind in kinds,
            limit,
            cursor,
            keys if by_keys else None,
        )
        pages.append(([item.id for item in found], cursor))
        if cursor is None:
            return pages


def test_a_listing_by_subject_walks_the_index_and_pages_exactly_like_a_full_walk() -> None:
    rng = random.Random(7)
    indexed: Table[_Logged] = Table(index=lambda item: item.subject_id)
    plain: Table[_Logged] = Table()
    for n in range(3_000):
        item = _Logged(str(n), f"s{rng.randrange(200)}", rng.choice(["credited", "paid"]))
        indexed.add(item)
        plain.add(item)
    for _ in range(60):
        keys = {f"s{rng.randrange(220)}" for _ in range(rng.randrange(1, 12))}  # some unknown
        kinds = rng.choice([{"credited"}, {"credited", "paid"}])
        limit = rng.randrange(1, 8)
        indexed_pages = _pages(indexed, keys, kinds, limit, by_keys=True)
        assert indexed_pages == _pages(plain, keys, kinds, limit, by_keys=False)
        assert sum(len(ids) for ids, _ in indexed_pages) == sum(
            1 for item in plain.items if item.subject_id in keys and item.kind in kinds
        )
