"""Our Stark Bank webhook subscription: ``webhook ensure|list``."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from starkrelay.cli.common import (
    JsonOption,
    console,
    fail,
    failing,
    load_or_exit,
    new_table,
    print_json,
    run_with_services,
    webhook_app,
    working,
)

if TYPE_CHECKING:
    from starkrelay.api.deps import Services


@webhook_app.command("ensure")
def webhook_ensure(as_json: JsonOption = False) -> None:
    """Make sure exactly one webhook points at API_EXTERNAL_URL + the webhook path."""
    from starkrelay.bank.errors import BankError
    from starkrelay.webhooks.registration import RegistrationBusyError, ensure_webhook

    settings = load_or_exit()
    url = settings.webhook_url
    if url is None:
        fail("API_EXTERNAL_URL: missing; expected the public https URL of this service")

    async def work(services: Services) -> Any:
        with working(f"Registering {url}...", quiet=as_json):
            return await ensure_webhook(services.bank, services.store, url)

    with failing(BankError, RegistrationBusyError):
        hook = run_with_services(work, settings=settings)
    if as_json:
        print_json(asdict(hook))
        return
    console.print(f"webhook {hook.id} -> {hook.url} ({', '.join(hook.subscriptions)})")


@webhook_app.command("list")
def webhook_list(as_json: JsonOption = False) -> None:
    """Every webhook registered at Stark Bank for this project."""
    settings = load_or_exit()
    hooks = run_with_services(lambda services: services.bank.list_webhooks(), settings=settings)
    if as_json:
        print_json([asdict(hook) | {"ours": hook.url == settings.webhook_url} for hook in hooks])
        return
    table = new_table(f"{len(hooks)} webhooks", "id", "url", "subscriptions", "ours")
    for hook in hooks:
        ours = "yes" if hook.url == settings.webhook_url else ""
        table.add_row(hook.id, hook.url, ", ".join(hook.subscriptions), ours)
    console.print(table)
