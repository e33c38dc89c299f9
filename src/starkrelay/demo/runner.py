"""The demo from start to verdict: start everything, play the campaign, settle, reconcile,
print the money report and the exactly-once check, and choose the exit status.

``run_demo`` returns 0 only when Stark Bank's records show every credited invoice forwarded
exactly once for ``amount - fee`` and a balance that agrees to the cent, and starkrelay's own
money report has no disagreement. It always ends by itself: past ``overall_timeout`` it says
what it was waiting for and returns 1.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import FrameType

import anyio
import httpx
from redis.exceptions import RedisError
from rich.console import Console
from rich.live import Live
from rich.markup import escape

from starkrelay.api.deps import Services
from starkrelay.api.wiring import run_reconciliation
from starkrelay.app import open_services
from starkrelay.bank import BankError
from starkrelay.cli.report_view import print_report
from starkrelay.console.auth import one_time_signin_url
from starkrelay.core.money import brl
from starkrelay.demo.control import SandboxControl, SandboxControlError
from starkrelay.demo.driver import CampaignView, Payers, PayerTally
from starkrelay.demo.environment import DemoEnvironment, DemoOptions, demo_environment
from starkrelay.demo.progress import render, take_snapshot
from starkrelay.demo.verdict import Verdict, print_verdict, sandbox_verdict
from starkrelay.forwarding.stream_state import stream_state
from starkrelay.ledger import reads
from starkrelay.ledger.reads import HeldForward
from starkrelay.reconciliation.report import MoneyReport

MAX_RECONCILIATIONS = 5

Frame = Callable[[str], Awaitable[None]]


@dataclass
class Outcome:
    report: MoneyReport
    verdict: Verdict
    reconciliations: Reconciliations

    @property
    def ok(self) -> bool:
        return self.verdict.ok and not self.report.disagreements and not self.report.unexplained


class Phase:
    """What the demo is doing now (named in the timeout message)."""

    def __init__(self) -> None:
        self.name = "starting"


def run_demo(options: DemoOptions, console: Console) -> int:
    """Run the whole demo; the exit status (0: everything agrees, 1: something does not,
    130: interrupted). Ctrl-C and SIGTERM stop every piece it started before it returns."""
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with demo_environment(options) as env:
            return _run(env, options, console)
    except KeyboardInterrupt:
        console.print("\nstarkrelay demo: interrupted; everything it started is stopped.")
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _run(env: DemoEnvironment, options: DemoOptions, console: Console) -> int:
    phase = Phase()
    _introduce(env, options, console)
    try:
        outcome = asyncio.run(_bounded(env, options, console, phase))
    except TimeoutError:
        console.print(
            f"[red]starkrelay demo: gave up after {options.overall_timeout:.0f} s while "
            f"{phase.name}.[/red] The log is {env.log_path}"
        )
        return 1
    except (BankError, RedisError, SandboxControlError, httpx.HTTPError) as error:
        console.print(
            f"[red]starkrelay demo: {escape(str(error))} while {phase.name}.[/red] "
            f"The log is {env.log_path}"
        )
        return 1
    status = 0 if outcome.ok else 1
    console.print(f"Logs: {env.log_path}")
    if options.keep_running:
        _keep_running(env, console)
    return status


async def _bounded(
    env: DemoEnvironment, options: DemoOptions, console: Console, phase: Phase
) -> Outcome:
    with anyio.fail_after(options.overall_timeout):
        return await _drive(env, options, console, phase)


async def _drive(
    env: DemoEnvironment, options: DemoOptions, console: Console, phase: Phase
) -> Outcome:
    started = time.monotonic()
    interval = options.compress(10800.0)
    poll = min(0.25, max(0.02, interval / 5))
    control = SandboxControl(env.sandbox_url)
    try:
        async with open_services(env.settings) as services:
            payers = Payers(services.store, services.bank, control, seed=options.seed)
            view = CampaignView(None, 0, 0, False)
            with Live(console=console, refresh_per_second=8) as live:

                async def frame(name: str) -> None:
                    phase.name = name
                    snapshot = await take_snapshot(
                        name, started, view, payers.tally, payers.waiting, control,
                        services.store,
                    )  # fmt: skip
                    live.update(render(snapshot))

                await frame("waiting for starkrelay to be ready")
                await _wait_ready(env, services, poll)
                while True:
                    view = await payers.watch()
                    await payers.pay_due()
                    await frame("running the campaign")
                    if view.finished and payers.waiting == 0:
                        break
                    await anyio.sleep(poll)
                await _settle(services, control, frame, "letting the last forwards settle", poll)
                report, runs = await _reconcile(services, control, frame, poll)
                await frame("done")
            _tell_what_happened(console, payers.tally, runs)
            print_report(report, console)
            held = await reads.list_held(services.store, limit=100_000)
            verdict = await sandbox_verdict(
                services.bank,
                initial_balance=env.initial_balance,
                held={h.invoice_id for h in held},
            )
            print_verdict(verdict, console)
            if held:
                _tell_how_to_approve(console, env, options, held)
            return Outcome(report, verdict, runs)
    finally:
        await control.aclose()


async def _wait_ready(env: DemoEnvironment, services: Services, poll: float) -> None:
    """Until starkrelay answers ready and its webhook is registered at the sandbox."""
    url = env.settings.webhook_url
    async with httpx.AsyncClient(base_url=env.relay_url, timeout=5.0) as http:
        while True:
            ready = (await http.get("/health/ready")).status_code == 200
            if ready and any(hook.url == url for hook in await services.bank.list_webhooks()):
                return
            await anyio.sleep(poll)


async def _settle(
    services: Services, control: SandboxControl, frame: Frame, name: str, poll: float
) -> None:
    """Until, twice in a row, no delivery is in flight, the forward queue is empty and no
    transfer is still created or processing."""
    calm = 0
    while calm < 2:
        await frame(name)
        in_flight = await control.drain(wait_seconds=poll)
        summary = await control.summary()
        transfers = summary.get("transfers", {})
        unsettled = transfers.get("created", 0) + transfers.get("processing", 0)
        queued = (await stream_state(services.store)).depth
        calm = calm + 1 if in_flight == 0 and unsettled == 0 and queued == 0 else 0
        await anyio.sleep(poll)


@dataclass
class Reconciliations:
    """What the reconciliation runs did, summed."""

    runs: int = 0
    events: int = 0
    credits: int = 0
    finished: bool = False


async def _reconcile(
    services: Services, control: SandboxControl, frame: Frame, poll: float
) -> tuple[MoneyReport, Reconciliations]:
    """Reconcile until a run finds nothing to do (webhooks the sandbox dropped are recovered
    here), settling in between. Returns the last report and what the runs did."""
    done = Reconciliations()
    while True:
        done.runs += 1
        await frame(f"reconciling with Stark Bank (run {done.runs})")
        report = await run_reconciliation(services)
        done.events += report.events_marked_delivered
        done.credits += report.enqueued_missing
        work = (
            report.events_marked_delivered
            + report.enqueued_missing
            + report.resent
            + report.lost_requeued
        )
        done.finished = work == 0 and report.in_flight == 0
        if done.finished or done.runs >= MAX_RECONCILIATIONS:
            return report, done
        await _settle(services, control, frame, f"settling what run {done.runs} recovered", poll)


def _tell_what_happened(console: Console, tally: PayerTally, runs: Reconciliations) -> None:
    console.print()
    console.print(
        f"Payers paid {tally.payments} invoices, {brl(tally.paid_cents)} in all: "
        f"{brl(tally.discounts)} of early-payment discounts off, "
        f"{brl(tally.fines_and_interest)} of fines and interest on; "
        f"{tally.planned['never']} invoices were never paid.",
        soft_wrap=True,
    )
    until = (
        "until it found nothing left to do"
        if runs.finished
        else "(the most it may) and still found work to do"
    )
    console.print(
        f"Reconciliation ran {runs.runs} time(s) {until}; it took {runs.events} event(s) whose "
        f"webhook never arrived and enqueued {runs.credits} credit(s) no event had brought.",
        soft_wrap=True,
    )


def _tell_how_to_approve(
    console: Console, env: DemoEnvironment, options: DemoOptions, held: list[HeldForward]
) -> None:
    """Held forwards: how many, for how much, and how a person approves them."""
    first = " ".join(h.invoice_id for h in held[:3])
    token = env.admin_token if options.keep_running else "$ADMIN_TOKEN"
    console.print(
        f"\n[bold]{len(held)} forward(s) of {brl(sum(h.amount for h in held))} are held[/bold]: "
        f"sending them would pass the daily limit of {brl(options.daily_limit)}. Nothing was "
        "sent for them; a person approves (sent once, past the limit) or rejects each:\n"
        f"  console  {env.relay_url}/console/held: tick them, then Approve chosen\n"
        f'  API      curl -X POST -H "Authorization: Bearer {token}" -H "Content-Type: '
        f'application/json" -d \'{{"invoice_ids": ["{held[0].invoice_id}"]}}\' '
        f"{env.relay_url}/api/v1/admin/forwards/approve\n"
        f"  CLI      starkrelay forwards approve {first}  (against the service's REDIS_URL)",
        highlight=False,
        soft_wrap=True,
    )
    if not options.keep_running:
        console.print(
            "Run the demo with --keep-running to approve them before everything stops.",
            highlight=False,
        )


def _introduce(env: DemoEnvironment, options: DemoOptions, console: Console) -> None:
    redis = "an embedded Valkey" if env.redis_embedded else "REDIS_URL"
    limit = ""
    if options.daily_limit:
        limit = f"; forwards past {brl(options.daily_limit)} a day are held for approval"
    console.print(
        f"[bold]starkrelay demo[/bold]: 8 batches of 8-12 invoices, 24 h of campaign in "
        f"{options.campaign_seconds:g} s (speed {options.speed:g}){limit}.\n"
        f"  starksandbox {env.sandbox_url} · starkrelay {env.relay_url} · Redis: {redis}\n"
        f"  logs: {env.log_path}",
        soft_wrap=True,
    )


def _keep_running(env: DemoEnvironment, console: Console) -> None:
    token = env.admin_token
    link = asyncio.run(one_time_signin_url(env.settings, env.relay_url))
    minutes = env.settings.console_signin_link_seconds / 60
    console.print(
        "\n[bold]Everything is still running[/bold] (Ctrl-C stops it):\n"
        f"  console      {env.relay_url}/console\n"
        f"               sign in once with {link}\n"
        f"               (single use, within {minutes:g} min; afterwards with the admin token "
        f"{token})\n"
        f"  API docs     {env.relay_url}/docs\n"
        f"  status       curl -H 'Authorization: Bearer {token}' {env.relay_url}/api/v1/status\n"
        f"  reconcile    curl -X POST -H 'Authorization: Bearer {token}' "
        f"{env.relay_url}/api/v1/admin/reconcile\n"
        f"  metrics      {env.relay_url}/metrics\n"
        f"  health       {env.relay_url}/health/ready\n"
        f"  starksandbox {env.sandbox_url}/sandbox/summary\n"
        f"  Redis        {env.redis_url if env.redis_embedded else 'REDIS_URL'} "
        f"(key prefix {env.settings.redis_key_prefix})\n"
        f"  logs         {env.log_path}",
        highlight=False,
        soft_wrap=True,
    )
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started in background
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        console.print("Stopping.")
