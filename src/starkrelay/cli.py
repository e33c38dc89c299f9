"""The ``starkrelay`` command (also ``python -m starkrelay``).

Every command reads the settings first; a wrong setting prints one line naming the variable
and exits with status 2. Without ``REDIS_URL``, the long-running commands start an embedded
Valkey (data lives as long as the process) and say so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import structlog
import typer
from rich.console import Console
from rich.table import Table

from starkrelay.logs import configure_logging
from starkrelay.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from starkrelay.deps import Services

T = TypeVar("T")
app = typer.Typer(
    name="starkrelay",
    help="Issue Stark Bank invoices on a schedule and forward every credited payment once.",
    no_args_is_help=True,
    add_completion=False,
)
campaign_app = typer.Typer(help="The invoice campaign.", no_args_is_help=True)
webhook_app = typer.Typer(help="Our Stark Bank webhook subscription.", no_args_is_help=True)
app.add_typer(campaign_app, name="campaign")
app.add_typer(webhook_app, name="webhook")

console = Console()
errors = Console(stderr=True)
log = structlog.get_logger("starkrelay.cli")

HostOption = Annotated[str, typer.Option(help="Interface to listen on (0.0.0.0 in containers).")]
PortOption = Annotated[int, typer.Option(help="TCP port to listen on.")]


# --- plumbing -----------------------------------------------------------------------------------
def _settings() -> Settings:
    try:
        settings = load_settings()
    except SettingsError as error:
        errors.print(f"starkrelay: {error}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    configure_logging(settings.log_level, settings.log_format)
    return settings


@contextmanager
def _with_redis(settings: Settings) -> Iterator[Settings]:
    """``settings`` unchanged when REDIS_URL is set, else pointed at an embedded Valkey."""
    if settings.redis_url is not None:
        yield settings
        return
    from starkrelay.embedded_redis import embedded_url, start_embedded_valkey

    server = start_embedded_valkey()
    url = embedded_url(server)
    log.warning("redis.embedded.started", url=url, note="REDIS_URL unset; data is not kept")
    try:
        yield settings.model_copy(update={"redis_url": url})
    finally:
        server.stop()


def _run(
    settings: Settings, work: Callable[[Services], Awaitable[T]], *, reads_state: bool = False
) -> T:
    """Open the services for ``settings`` and run ``work(services)`` to completion.

    ``reads_state``: the command reports what the running service keeps in Redis, so an
    embedded (empty) Valkey would mislead: REDIS_URL is then required.
    """
    from starkrelay.app import open_services

    if reads_state and settings.redis_url is None:
        _fail("REDIS_URL: missing; expected the redis:// URL the service uses")

    async def main(ready: Settings) -> T:
        async with open_services(ready) as services:
            return await work(services)

    with _with_redis(settings) as ready:
        return asyncio.run(main(ready))


def _fail(message: str) -> None:
    errors.print(f"starkrelay: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def _when(epoch: float | None, *, precise: bool = False) -> str:
    """UTC time; ``precise`` adds milliseconds (compressed demo intervals)."""
    if epoch is None:
        return "-"
    moment = datetime.fromtimestamp(epoch, UTC)
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    return f"{text}.{moment.microsecond // 1000:03d} UTC" if precise else f"{text} UTC"


def _cents(amount: int) -> str:
    return f"R$ {amount / 100:,.2f}"


# --- processes ----------------------------------------------------------------------------------
@app.command()
def serve(host: HostOption = "127.0.0.1", port: PortOption = 8000) -> None:
    """API, campaign scheduler and forwarding worker in one process (the default)."""
    _serve("serve", host, port)


@app.command()
def api(host: HostOption = "127.0.0.1", port: PortOption = 8000) -> None:
    """The HTTP API only (webhooks, health, metrics, status); any number of replicas."""
    _serve("api", host, port)


def _serve(role: str, host: str, port: int) -> None:
    import uvicorn

    from starkrelay.app import create_app

    settings = _settings()
    with _with_redis(settings) as ready:
        application = create_app(ready, role="serve" if role == "serve" else "api")
        uvicorn.run(application, host=host, port=port, log_config=None, access_log=False)


@app.command()
def worker() -> None:
    """Campaign scheduler, webhook registration and forwarding worker; no inbound traffic."""
    import anyio

    from starkrelay.app import run_worker

    settings = _settings()

    async def main(ready: Settings) -> None:
        import signal

        stop = anyio.Event()

        async def on_signal() -> None:
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for _ in signals:
                    stop.set()
                    return

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(on_signal)
            await run_worker(ready, stop=stop)
            tasks.cancel_scope.cancel()

    with _with_redis(settings) as ready:
        anyio.run(main, ready)


# --- invoices -----------------------------------------------------------------------------------
@app.command()
def issue(
    count: Annotated[
        int | None, typer.Option(min=1, max=100, help="Invoices (default: random in range).")
    ] = None,
) -> None:
    """Issue one ad-hoc batch of invoices now (outside the campaign) and print it."""
    from starkrelay.bank.errors import BankError
    from starkrelay.invoicing.issuance import SlotIssuer

    settings = _settings()

    async def work(services: Services) -> Any:
        issuer = SlotIssuer(settings, services.redis, services.keys, services.bank)
        with console.status("Creating invoices at Stark Bank..."):
            return await issuer.issue_adhoc_batch(count)

    try:
        invoices = _run(settings, work)
    except BankError as error:
        _fail(str(error))
        return
    table = Table(title=f"{len(invoices)} invoices issued")
    for column in ("id", "name", "tax id", "amount", "due", "status"):
        table.add_column(column, justify="right" if column == "amount" else "left")
    for item in invoices:
        due = item.due.strftime("%Y-%m-%d %H:%M") if item.due else "-"
        table.add_row(item.id, item.name, item.tax_id, _cents(item.amount), due, item.status)
    console.print(table)


@campaign_app.command("status")
def campaign_status() -> None:
    """The current campaign: start, slots, and what happened to each."""
    import time

    from starkrelay.invoicing.campaign import load_campaign
    from starkrelay.invoicing.issuance import SlotIssuer

    settings = _settings()

    async def work(services: Services) -> Any:
        campaign = await load_campaign(services.redis, services.keys)
        if campaign is None:
            return None, {}
        issuer = SlotIssuer(settings, services.redis, services.keys, services.bank)
        return campaign, await issuer.outcomes(campaign)

    campaign, outcomes = _run(settings, work, reads_state=True)
    if campaign is None:
        console.print("No campaign yet: the first scheduler tick starts one.")
        return
    now = time.time()
    slots = campaign.slots if campaign.slots is not None else max([*outcomes, -1]) + 2
    finished = campaign.slots is not None and len(outcomes) >= campaign.slots
    state = "ended" if finished or campaign.is_over(now) else "running"
    table = Table(title=f"campaign {campaign.id} ({state})")
    for column in ("slot", "fires at", "outcome", "invoices", "notes"):
        table.add_column(column)
    for slot in range(slots):
        outcome = outcomes.get(slot)
        notes = []
        if outcome is not None and outcome.recovered:
            notes.append("found by tag")
        if outcome is not None and outcome.late:
            notes.append("late")
        if outcome is not None and outcome.errors:
            notes.append(",".join(outcome.errors))
        table.add_row(
            str(slot),
            _when(campaign.fire_at(slot), precise=campaign.interval < 60),
            outcome.status if outcome else ("due" if campaign.is_due(slot, now) else "pending"),
            str(len(outcome.invoice_ids)) if outcome else "-",
            " ".join(notes),
        )
    console.print(table)
    console.print(
        f"t0 {_when(campaign.t0)}, every {campaign.interval:g} s, "
        f"{'endless' if campaign.slots is None else f'{campaign.slots} slots'}, "
        f"ends {_when(campaign.ends_at())}"
    )


@campaign_app.command("start")
def campaign_start(
    force: Annotated[bool, typer.Option(help="Replace a campaign that is still running.")] = False,
) -> None:
    """Start a new campaign now (t0 = now); the only way to issue again after one ended."""
    from starkrelay.invoicing.campaign import CampaignRunningError, start_campaign

    settings = _settings()

    async def work(services: Services) -> Any:
        return await start_campaign(services.redis, services.keys, settings, force=force)

    try:
        campaign = _run(settings, work, reads_state=True)
    except CampaignRunningError as error:
        _fail(str(error))
        return
    console.print(f"Started campaign {campaign.id} at {_when(campaign.t0)}.")


# --- webhooks -----------------------------------------------------------------------------------
@webhook_app.command("ensure")
def webhook_ensure() -> None:
    """Make sure exactly one webhook points at API_EXTERNAL_URL + the webhook path."""
    from starkrelay.bank.errors import BankError
    from starkrelay.bank.registration import RegistrationBusyError, ensure_webhook

    settings = _settings()
    url = settings.webhook_url
    if url is None:
        _fail("API_EXTERNAL_URL: missing; expected the public https URL of this service")
        return

    async def work(services: Services) -> Any:
        with console.status(f"Registering {url}..."):
            return await ensure_webhook(services.bank, services.redis, services.keys, url)

    try:
        hook = _run(settings, work)
    except (BankError, RegistrationBusyError) as error:
        _fail(str(error))
        return
    console.print(f"webhook {hook.id} -> {hook.url} ({', '.join(hook.subscriptions)})")


@webhook_app.command("list")
def webhook_list() -> None:
    """Every webhook registered at Stark Bank for this project."""
    settings = _settings()

    async def work(services: Services) -> Any:
        return await services.bank.list_webhooks()

    hooks = _run(settings, work)
    table = Table(title=f"{len(hooks)} webhooks")
    for column in ("id", "url", "subscriptions", "ours"):
        table.add_column(column)
    for hook in hooks:
        ours = "yes" if hook.url == settings.webhook_url else ""
        table.add_row(hook.id, hook.url, ", ".join(hook.subscriptions), ours)
    console.print(table)


# --- status and operations ----------------------------------------------------------------------
@app.command()
def status() -> None:
    """Campaign progress, forwarding stages and queues, last money report (as JSON)."""
    from starkrelay.ops.status import status_body

    settings = _settings()
    body = _run(settings, status_body, reads_state=True)
    console.print_json(data=body, default=str)


@app.command()
def reconcile(
    since: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="First day to sweep.")
    ] = None,
) -> None:
    """Run the reconciliation sweep now and print its money report."""
    from starkrelay.reconciliation.report import print_report
    from starkrelay.reconciliation.service import ReconciliationBusy, run_reconciliation

    settings = _settings()
    first_day: date | None = since.date() if since else None

    async def work(services: Services) -> Any:
        with console.status("Reconciling with Stark Bank..."):
            try:
                return await run_reconciliation(services, first_day)
            except ReconciliationBusy as busy:
                _fail(str(busy))

    report = _run(settings, work, reads_state=True)
    print_report(report, console)


@app.command()
def keygen(
    directory: Annotated[Path, typer.Option(help="Where to write the key pair.")] = Path("keys"),
) -> None:
    """Write a new secp256k1 key pair (private-key.pem, public-key.pem) for a Stark project."""
    from ellipticcurve import PrivateKey

    directory.mkdir(parents=True, exist_ok=True)
    private_path, public_path = directory / "private-key.pem", directory / "public-key.pem"
    if private_path.exists():
        _fail(f"{private_path} exists; refusing to overwrite a private key")
    key = PrivateKey()
    private_path.write_text(key.toPem().strip() + "\n")
    private_path.chmod(0o600)
    public_path.write_text(key.publicKey().toPem().strip() + "\n")
    console.print(
        f"Wrote {private_path} (keep it secret) and {public_path} (upload it to Stark Bank)."
    )


@app.command()
def demo(
    speed: Annotated[
        float,
        typer.Option(
            min=1, max=86400, help="Campaign time per real second: 1440 runs 24 h in a minute."
        ),
    ] = 1440.0,
    keep_running: Annotated[
        bool, typer.Option(help="Leave everything running afterwards and print its URLs.")
    ] = False,
    timeout: Annotated[
        float | None,
        typer.Option(min=1, help="Give up after this many seconds (default: 2 x campaign + 120)."),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Make payers and faults reproducible.")] = None,
) -> None:
    """Run the whole mission locally with nothing configured (embedded Valkey unless
    REDIS_URL is set, starksandbox, starkrelay); exit 0 only if every credited invoice was
    forwarded exactly once and the balance agrees to the cent."""
    from starkrelay.demo.environment import DemoError, DemoOptions
    from starkrelay.demo.runner import run_demo

    options = DemoOptions(speed=speed, keep_running=keep_running, timeout=timeout, seed=seed)
    try:
        status = run_demo(options, console)
    except (SettingsError, DemoError) as error:
        _fail(str(error))
        return
    raise typer.Exit(status)


def main() -> None:  # pragma: no cover - console entry point
    app(prog_name="starkrelay")


if __name__ == "__main__":  # pragma: no cover
    main()
