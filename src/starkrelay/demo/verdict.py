"""The exactly-once check, made against Stark Bank's own records (through the SDK), not ours.

``judge`` is pure: given every ``credited`` invoice log's snapshot, every transfer and the
balance, it lists each way the money disagrees:

- a credited invoice with a positive net (``amount - fee``) forwarded zero times or more than
  once (successful transfers tagged ``invoice:<id>``), or for another amount, or under an
  ``external_id`` that is not ``invoice-<id>[-r<n>]``; one starkrelay holds for approval
  (over ``--daily-limit``) must have no transfer at all;
- a forward still ``created``/``processing`` (not settled yet);
- a transfer for an invoice that was never credited, or tied to no invoice at all;
- unexplained outflow, summed on its own line, by reconciliation's own rule
  (``reconciliation.outflow.judge_outflow``): every live transfer that names no credited
  invoice, every one past the first for one invoice, and the part of a forward above its
  invoice's ``amount - fee``;
- a balance that is not ``initial + Σ net credited - Σ forwarded - Σ transfer fees`` to the
  cent (only transfers that reached ``processing`` or ``success`` moved money).

``sandbox_verdict`` collects those records with the gateway and judges them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from starkrelay.bank import BankGateway, Invoice, Transfer
from starkrelay.core.money import brl
from starkrelay.ledger.identity import parse_external_id
from starkrelay.ledger.stages import LIVE_STATUSES
from starkrelay.reconciliation.outflow import judge_outflow, tagged_invoices

_MOVED_MONEY = {"processing", "success"}


@dataclass(frozen=True)
class Verdict:
    """The check's figures (cents) and every problem found; ``ok`` when there is none."""

    credited_invoices: int
    net_credited: int
    forwards: int
    forwarded: int
    transfer_fees: int
    initial_balance: int
    balance: int
    problems: tuple[str, ...]
    unexplained_outflow: int = 0
    """Cents sent (or on their way) that no credited invoice explains."""
    unexplained_transfers: int = 0
    held_invoices: int = 0
    """Credited invoices starkrelay holds for a person's approval (not forwarded, rightly)."""
    held: int = 0
    """Their net, in cents: still in the account."""

    @property
    def expected_balance(self) -> int:
        return self.initial_balance + self.net_credited - self.forwarded - self.transfer_fees

    @property
    def ok(self) -> bool:
        return not self.problems


def judge(
    credited: Iterable[Invoice],
    transfers: Iterable[Transfer],
    *,
    balance: int,
    initial_balance: int,
    held: Collection[str] = (),
) -> Verdict:
    """Check every credited invoice against the transfers, and the balance against both;
    an invoice of `held` (held for approval) must have no transfer."""
    invoices = {invoice.id: invoice for invoice in credited}
    transfers = list(transfers)
    problems: list[str] = []
    by_invoice: dict[str, list[Transfer]] = defaultdict(list)
    for transfer in transfers:
        invoice_id = next(iter(tagged_invoices(transfer)), None)
        if invoice_id is None:
            problems.append(f"transfer {transfer.id} carries no invoice:<id> tag")
        elif invoice_id not in invoices:
            problems.append(f"transfer {transfer.id} forwards invoice {invoice_id}, never credited")
        else:
            by_invoice[invoice_id].append(transfer)
    held_here = [invoices[i] for i in held if i in invoices]
    for invoice in invoices.values():
        problems += _judge_invoice(invoice, by_invoice[invoice.id], invoice.id in held)
    nets = {invoice.id: invoice.amount - invoice.fee for invoice in invoices.values()}
    outflow = [finding.amount for finding in judge_outflow(transfers, nets, destination=None)]
    if outflow:
        problems.append(
            f"unexplained outflow: {brl(sum(outflow))} in {len(outflow)} transfer(s) that no "
            "credited invoice explains"
        )
    moved = [transfer for transfer in transfers if transfer.status in _MOVED_MONEY]
    verdict = Verdict(
        credited_invoices=len(invoices),
        net_credited=sum(invoice.amount - invoice.fee for invoice in invoices.values()),
        forwards=len(moved),
        forwarded=sum(transfer.amount for transfer in moved),
        transfer_fees=sum(transfer.fee for transfer in moved),
        initial_balance=initial_balance,
        balance=balance,
        problems=(),
        unexplained_outflow=sum(outflow),
        unexplained_transfers=len(outflow),
        held_invoices=len(held_here),
        held=sum(invoice.amount - invoice.fee for invoice in held_here),
    )
    if verdict.expected_balance != balance:
        problems.append(
            f"balance is {brl(balance)} but initial + net credited - forwarded - fees is "
            f"{brl(verdict.expected_balance)} (off by {brl(balance - verdict.expected_balance)})"
        )
    return Verdict(**{**verdict.__dict__, "problems": tuple(problems)})


def _judge_invoice(invoice: Invoice, transfers: list[Transfer], held: bool) -> list[str]:
    net = invoice.amount - invoice.fee
    name = f"invoice {invoice.id} (net {brl(net)})"
    problems = []
    for transfer in transfers:
        parsed = parse_external_id(transfer.external_id)
        if parsed is None or parsed[0] != invoice.id:
            problems.append(
                f"{name}: transfer {transfer.id} has external id {transfer.external_id!r}, "
                f"expected invoice-{invoice.id}[-r<n>]"
            )
        if transfer.status in LIVE_STATUSES:
            problems.append(f"{name}: transfer {transfer.id} is still {transfer.status}")
    if net <= 0:
        if transfers:
            problems.append(f"{name}: nothing to forward, yet {len(transfers)} transfer(s) exist")
        return problems
    if held:
        if transfers:
            problems.append(f"{name}: held for approval, yet {len(transfers)} transfer(s) exist")
        return problems
    successes = [transfer for transfer in transfers if transfer.status == "success"]
    if len(successes) != 1:
        problems.append(f"{name}: forwarded {len(successes)} times, expected exactly once")
    for transfer in successes:
        if transfer.amount != net:
            problems.append(f"{name}: transfer {transfer.id} forwarded {brl(transfer.amount)}")
    return problems


async def sandbox_verdict(
    bank: BankGateway, *, initial_balance: int, held: Collection[str] = ()
) -> Verdict:
    """Judge the whole account: every credited invoice log, every transfer, the balance
    (`held`: the invoices starkrelay holds for approval)."""
    credited = [log.invoice async for log in bank.iter_invoice_logs(types=["credited"])]
    transfers = await bank.find_transfers()
    balance = await bank.get_balance()
    return judge(
        credited, transfers, balance=balance.amount, initial_balance=initial_balance, held=held
    )


def print_verdict(verdict: Verdict, console: Console) -> None:
    """The figures as a table, then either the problems or the one-line good news."""
    table = Table(title="Exactly-once check against Stark Bank's records")
    table.add_column("line")
    table.add_column("amount", justify="right")
    rows = [
        ("initial balance", brl(verdict.initial_balance)),
        (f"+ net credited ({verdict.credited_invoices} invoices)", brl(verdict.net_credited)),
        (f"- forwarded ({verdict.forwards} transfers)", brl(verdict.forwarded)),
        (f"  held for approval ({verdict.held_invoices} invoices)", brl(verdict.held)),
        ("- transfer fees", brl(verdict.transfer_fees)),
        ("= expected balance", brl(verdict.expected_balance)),
        ("Stark Bank balance", brl(verdict.balance)),
        (
            f"unexplained outflow ({verdict.unexplained_transfers} transfers)",
            brl(verdict.unexplained_outflow),
        ),
    ]
    for line, amount in rows:
        table.add_row(line, amount)
    console.print(table)
    if verdict.ok:
        but = (
            f" (but the {verdict.held_invoices} held for approval, not sent)"
            if verdict.held_invoices
            else ""
        )
        console.print(
            f"[green]Every credited invoice was forwarded exactly once{but}, for its amount "
            f"minus its fee; the balance agrees to the cent ({brl(verdict.balance)}).[/green]"
        )
        return
    console.print(f"[red]{len(verdict.problems)} problem(s):[/red]")
    for problem in verdict.problems:
        console.print(f"  [red]-[/red] {escape(problem)}", highlight=False)
