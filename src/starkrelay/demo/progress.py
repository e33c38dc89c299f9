"""The live view: where every invoice is, from issue to forward, read from the real places.

Each number comes from the system that owns it: batches and invoices issued from the
campaign record in Redis, payments from the payers, credits and transfers from the sandbox's
own counters, "seen by starkrelay" and the forward queue from starkrelay's Redis ledger.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from starkrelay.core.money import brl
from starkrelay.core.store import Store
from starkrelay.demo.control import SandboxControl
from starkrelay.demo.driver import CampaignView, PayerTally
from starkrelay.forwarding.stream_state import stream_state


@dataclass(frozen=True)
class Snapshot:
    """One frame of the live view."""

    phase: str
    elapsed: float
    batches_done: int
    batches_total: int
    issued: int
    paid: int
    paid_early: int
    paid_late: int
    waiting_payments: int
    credited: int
    seen_by_relay: int
    forwarded: int
    in_flight: int
    dropped: int
    duplicated: int
    balance: int


async def take_snapshot(
    phase: str,
    started: float,
    view: CampaignView,
    tally: PayerTally,
    waiting: int,
    control: SandboxControl,
    store: Store,
) -> Snapshot:
    """Read every source once."""
    summary = await control.summary()
    transfers: dict[str, int] = summary.get("transfers", {})
    invoices: dict[str, int] = summary.get("invoices", {})
    stream = await stream_state(store)
    seen = int(await store.redis.zcard(store.keys.ledger_index()))
    unsettled = transfers.get("created", 0) + transfers.get("processing", 0)
    return Snapshot(
        phase=phase,
        elapsed=time.monotonic() - started,
        batches_done=view.slots_resolved,
        batches_total=view.slots_total,
        issued=view.invoices_issued,
        paid=tally.payments,
        paid_early=tally.paid["early"],
        paid_late=tally.paid["late"],
        waiting_payments=waiting,
        credited=invoices.get("paid", 0),
        seen_by_relay=seen,
        forwarded=transfers.get("success", 0),
        in_flight=stream.depth + unsettled,
        dropped=int(summary.get("deliveriesDropped", 0)),
        duplicated=int(summary.get("deliveriesDuplicated", 0)),
        balance=int(summary.get("balance", 0)),
    )


def render(snapshot: Snapshot) -> RenderableType:
    """The frame: a header, a bar of batches, and one row per stage."""
    s = snapshot
    header = Text.assemble(
        ("starkrelay demo ", "bold"), (f"· {s.phase} ", "cyan"), (f"· {s.elapsed:5.1f} s", "dim")
    )
    total = max(s.batches_total, 1)
    bar = Table.grid(padding=(0, 1))
    bar.add_row(
        Text("batches", style="bold"),
        ProgressBar(total=total, completed=s.batches_done, width=40),
        Text(f"{s.batches_done}/{s.batches_total or '?'}"),
    )
    table = Table(show_header=True, header_style="bold", box=None, padding=(0, 2))
    table.add_column("stage")
    table.add_column("count", justify="right")
    table.add_column("", style="dim")
    table.add_row("invoices issued", str(s.issued), "Stark Bank invoices created by the campaign")
    table.add_row(
        "paid",
        str(s.paid),
        f"{s.paid_early} early (discount), {s.paid_late} late (fine + interest); "
        f"{s.waiting_payments} payers yet to act",
    )
    table.add_row("credited", str(s.credited), "Stark Bank credited the account")
    table.add_row(
        "seen by starkrelay",
        str(s.seen_by_relay),
        f"webhooks: {s.dropped} deliveries dropped, {s.duplicated} duplicated",
    )
    table.add_row("forwarded", str(s.forwarded), "transfers settled at Stark Bank")
    table.add_row("in flight", str(s.in_flight), "queued in Redis or processing at Stark Bank")
    table.add_row("balance", brl(s.balance), "")
    return Group(header, bar, table)
