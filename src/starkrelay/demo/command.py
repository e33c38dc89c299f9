"""``starkrelay demo``: the whole mission locally, with nothing configured. Registered on the
CLI's app by ``starkrelay.main`` (the demo sits above the CLI; the CLI never imports it)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer

from starkrelay.cli.common import app, console, fail
from starkrelay.core.settings import SettingsError


@app.command()
def demo(
    speed: Annotated[
        float,
        typer.Option(
            min=1,
            max=86400,
            metavar="X",
            help="Campaign time per real second: 1440 runs 24 h in a minute.",
        ),
    ] = 1440.0,
    keep_running: Annotated[
        bool,
        typer.Option(
            "--keep-running", help="Leave everything running afterwards and print its URLs."
        ),
    ] = False,
    timeout: Annotated[
        float | None,
        typer.Option(
            min=1,
            metavar="SECONDS",
            help="Give up after this many seconds (default: 2 x campaign + 120).",
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(metavar="N", help="Make payers and faults reproducible.")
    ] = None,
    daily_limit: Annotated[
        str | None,
        typer.Option(
            metavar="R$",
            help="Hold forwards past this much a day (e.g. 500.00), for a person to approve.",
        ),
    ] = None,
) -> None:
    """Run the whole mission locally with nothing configured (embedded Valkey unless
    REDIS_URL is set, starksandbox, starkrelay); exit 0 only if every credited invoice was
    forwarded exactly once and the balance agrees to the cent."""
    from starkrelay.demo.environment import DemoError, DemoOptions
    from starkrelay.demo.runner import run_demo

    options = DemoOptions(
        speed=speed,
        keep_running=keep_running,
        timeout=timeout,
        seed=seed,
        daily_limit=0 if daily_limit is None else _cents(daily_limit),
    )
    try:
        status = run_demo(options, console)
    except (SettingsError, DemoError) as error:
        fail(str(error))
        return
    raise typer.Exit(status)


def _cents(reais: str) -> int:
    """``500.00`` (R$) as cents; a usage error for anything else."""
    try:
        value = Decimal(reais.strip().replace(",", "."))
    except InvalidOperation:
        value = Decimal(0)
    if not value.is_finite() or value <= 0 or value != value.quantize(Decimal("0.01")):
        raise typer.BadParameter(
            f"expected an amount in R$ above 0 with at most 2 decimals, e.g. 500.00; got {reais!r}",
            param_hint="'--daily-limit'",
        )
    return int(value * 100)
