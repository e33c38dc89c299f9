"""The Stark Bank gateway: the service's only door to the ``starkbank`` SDK.

Every method is ``async``; the blocking SDK call runs in a worker thread with the project
user passed explicitly (the SDK's global ``starkbank.user`` is never set); that user parses
its private key once (``bank.project.ParsedKeyProject``), not on every request. Transient
failures are retried per the gateway's ``RetryPolicy``; see ``bank.calls`` and ``bank.errors``
for what a caller can catch. Creation calls are NOT idempotent by themselves: a
``BankUnavailableError`` from ``create_*`` means "may have happened"; callers look the result
up by tag or ``external_id`` before creating again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from datetime import date
from functools import partial
from typing import Any

import starkbank
import structlog

from sdk_redirect import point_sdk_at
from starkrelay.bank import convert
from starkrelay.bank.calls import install_status_recorder, run_bank_call
from starkrelay.bank.errors import BankError
from starkrelay.bank.models import (
    Balance,
    Invoice,
    InvoiceLog,
    NewInvoice,
    NewTransfer,
    Transfer,
    TransferLog,
    Webhook,
)
from starkrelay.bank.project import ParsedKeyProject
from starkrelay.core.retry import RetryPolicy
from starkrelay.core.settings import Settings

log = structlog.get_logger("starkrelay.bank")

PAGE_LIMIT = 100


class BankGateway:
    """Typed async access to Stark Bank (or a starksandbox when ``STARK_API_URL`` is set).

    One instance per process is enough; it holds no connection of its own (the SDK keeps
    one keep-alive session per worker thread when redirected).
    """

    def __init__(self, settings: Settings, *, policy: RetryPolicy | None = None) -> None:
        self._user = ParsedKeyProject(
            environment=settings.stark_environment,
            id=settings.stark_project_id,
            private_key=settings.private_key_pem.get_secret_value(),
        )
        self.policy = policy or RetryPolicy(
            deadline=settings.bank_retry_deadline_seconds,
            max_wait=settings.bank_retry_max_wait_seconds,
        )
        starkbank.timeout = settings.bank_timeout_seconds
        install_status_recorder()
        if settings.stark_api_url is not None:
            point_sdk_at(str(settings.stark_api_url))
            log.info("bank.redirected", base_url=str(settings.stark_api_url))

    async def _call(self, operation: str, call: Callable[[], Any]) -> Any:
        return await run_bank_call(operation, call, self.policy)

    # --- invoices ---------------------------------------------------------------------------
    async def create_invoices(
        self, invoices: list[NewInvoice], *, batch_tag: str | None = None
    ) -> list[Invoice]:
        """Create up to 100 invoices in ONE request; all or none (a 400 rejects the batch).

        With ``batch_tag`` (a tag every invoice carries and no other batch uses), transient
        failures are retried safely: each retry first looks the batch up by that tag and
        returns it if the lost attempt did create it. Without it nothing is retried (a
        blind retry could issue the batch twice).
        """
        payload = [convert.invoice_to_sdk(item) for item in invoices]
        attempts = 0

        def create() -> Any:
            nonlocal attempts
            attempts += 1
            if attempts > 1 and batch_tag is not None:
                found = list(starkbank.invoice.query(tags=[batch_tag], user=self._user))
                if found:
                    log.warning("bank.invoices.found_after_retry", tag=batch_tag, n=len(found))
                    return found
            return starkbank.invoice.create(payload, user=self._user)

        policy = self.policy if batch_tag is not None else RetryPolicy.off()
        created = await run_bank_call("create_invoices", create, policy)
        return [convert.invoice(item) for item in created]

    async def get_invoice(self, invoice_id: str) -> Invoice:
        """One invoice by id (``BankInputError`` ``invalidInvoice`` when unknown)."""
        item = await self._call(
            "get_invoice", lambda: starkbank.invoice.get(invoice_id, user=self._user)
        )
        return convert.invoice(item)

    async def find_invoices_by_tags(
        self, tags: Iterable[str], *, after: date | None = None, before: date | None = None
    ) -> list[Invoice]:
        """Every invoice carrying ANY of ``tags`` (lower-case), all pages."""
        query = {"tags": tags, "after": after, "before": before}
        items = await self._collect("find_invoices", starkbank.invoice.page, query)
        return [convert.invoice(item) for item in items]

    async def latest_invoices_by_tag(self, tag: str) -> list[Invoice]:
        """The newest invoices carrying ``tag``: one page (up to 100), newest first."""
        call = partial(starkbank.invoice.page, limit=PAGE_LIMIT, tags=[tag], user=self._user)
        items, _ = await self._call("latest_invoices", call)
        return [convert.invoice(item) for item in items]

    async def iter_invoice_logs(
        self,
        types: Iterable[str] | None = None,
        after: date | None = None,
        before: date | None = None,
        invoice_ids: Iterable[str] | None = None,
    ) -> AsyncIterator[InvoiceLog]:
        """Invoice logs matching the filters (newest first), fetched one page at a time."""
        query = {"types": types, "after": after, "before": before, "invoice_ids": invoice_ids}
        async for item in self._pages("iter_invoice_logs", starkbank.invoice.log.page, query):
            yield convert.invoice_log(item)

    async def credited_logs(self, invoice_ids: Iterable[str]) -> list[InvoiceLog]:
        """The ``credited`` and ``reversed`` logs Stark Bank holds, in OUR workspace, for up to
        100 invoices, newest first, in ONE request (another page is fetched only while some
        invoice has no credited log yet and the answer carries a cursor; a reversal is always
        newer than its credit, so it is on a page already read).

        An invoice with no credited log in the answer is unknown to our workspace or not
        credited. A credited log's invoice is the invoice as credited (``amount`` received,
        ``fee``); a reversed log's is the invoice after that reversal (its lowered ``amount``).
        """
        ids = sorted(set(invoice_ids))
        if len(ids) > PAGE_LIMIT:
            raise ValueError(f"at most {PAGE_LIMIT} invoice ids per read, got {len(ids)}")
        if not ids:
            return []
        found: list[InvoiceLog] = []
        seen: set[str] = set()
        cursor: str | None = None
        while True:
            # the SDK's raw request (the query ``invoice.log.page`` sends), without building
            # and parsing SDK objects (most of this read's client CPU)
            query = {
                "cursor": cursor,
                "limit": PAGE_LIMIT,
                "types": ["credited", "reversed"],
                "invoice_ids": ids,
            }
            body = await self._call("credited_logs", partial(self._raw_json, "invoice/log", query))
            for item in body.get("logs") or []:
                found.append(convert.invoice_log(convert.FromApi(item)))
                if found[-1].type == "credited":
                    seen.add(found[-1].invoice.id)
            cursor = body.get("cursor")
            if not cursor or seen >= set(ids):  # a full page may carry a cursor to nothing
                return found

    async def workspace_id(self) -> str | None:
        """Our workspace id, read from our own latest event (``GET /event?limit=1`` with our
        credentials); None when the workspace has no event yet."""
        body = await self._call("workspace_id", partial(self._raw_json, "event", {"limit": 1}))
        events = body.get("events") or []
        value = events[0].get("workspaceId") if events and isinstance(events[0], dict) else None
        return str(value) if value else None

    # --- transfers --------------------------------------------------------------------------
    async def create_transfers(self, transfers: list[NewTransfer]) -> list[Transfer]:
        """Create up to 100 transfers in ONE request; returns them in the given order.

        Retries of transient failures are safe when every transfer carries a tag: before
        re-sending, the transfers already created (same ``external_id`` under those tags) are
        looked up and only the missing ones are sent. On a 400 the whole request is refused and
        ``BankInputError.errors`` keep the provider's messages (which name the failing item's
        position; see ``BankInputError.item_index``). A duplicated ``external_id`` is such an
        input error: a transfer with that id already exists.
        """
        payload = [convert.transfer_to_api(item) for item in transfers]
        tags = sorted({tag for item in transfers for tag in item.tags})
        retry_safe = all(item.tags for item in transfers)
        attempts = 0

        def create() -> list[Transfer]:
            nonlocal attempts
            attempts += 1
            existing: dict[str, Transfer] = {}
            if attempts > 1:
                wanted = {item.external_id for item in transfers}
                for found in starkbank.transfer.query(tags=tags, user=self._user):
                    if found.external_id in wanted:
                        existing[found.external_id] = convert.transfer(found)
            pending = [item for item in payload if item["externalId"] not in existing]
            by_external_id = dict(existing)
            if pending:
                # the SDK's raw request: signed like transfer.create, without building and
                # parsing SDK objects (most of a 100-transfer call's client CPU)
                response = starkbank.request.post(
                    path="transfer", body={"transfers": pending}, user=self._user
                )
                for item in convert.raw_json(response, "create_transfers")["transfers"]:
                    made = convert.transfer(convert.FromApi(item))
                    by_external_id[str(made.external_id)] = made
            return [by_external_id[item.external_id] for item in transfers]

        policy = self.policy if retry_safe else RetryPolicy.off()
        return await run_bank_call("create_transfers", create, policy)

    async def get_transfer(self, transfer_id: str) -> Transfer:
        """One transfer by id (``BankInputError`` ``invalidTransfer`` when unknown)."""
        item = await self._call(
            "get_transfer", lambda: starkbank.transfer.get(transfer_id, user=self._user)
        )
        return convert.transfer(item)

    async def find_transfers(
        self,
        *,
        tags: Iterable[str] | None = None,
        external_ids: Iterable[str] | None = None,
        status: str | None = None,
        after: date | None = None,
        before: date | None = None,
        ids: Iterable[str] | None = None,
    ) -> list[Transfer]:
        """Transfers matching every given filter, all pages.

        ``tags``, ``status``, ``ids``, ``after`` and ``before`` are sent to the API;
        ``external_ids`` is applied here (the SDK has no such filter), so pair it with
        ``tags`` or a date range to keep the listing small.
        """
        query = {"tags": tags, "status": status, "after": after, "before": before, "ids": ids}
        items = await self._collect("find_transfers", starkbank.transfer.page, query)
        found = [convert.transfer(item) for item in items]
        if external_ids is not None:
            wanted = set(external_ids)
            found = [item for item in found if item.external_id in wanted]
        return found

    async def iter_transfer_logs(
        self,
        types: Iterable[str] | None = None,
        after: date | None = None,
        before: date | None = None,
        transfer_ids: Iterable[str] | None = None,
    ) -> AsyncIterator[TransferLog]:
        """Transfer logs matching the filters (newest first), fetched one page at a time."""
        query = {"types": types, "after": after, "before": before, "transfer_ids": transfer_ids}
        async for item in self._pages("iter_transfer_logs", starkbank.transfer.log.page, query):
            yield convert.transfer_log(item)

    # --- events -----------------------------------------------------------------------------
    async def iter_undelivered_events(
        self, after: date | None = None, before: date | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Each undelivered event as the RAW API JSON dict (camelCase keys, the same shape as
        a webhook body's ``"event"``), one page at a time.

        Marking events delivered while iterating can shift later pages; collect first (or
        run the sweep again) when every event must be seen in one pass.
        """
        cursor: str | None = None
        while True:
            query: dict[str, Any] = {"isDelivered": False, "limit": PAGE_LIMIT}
            if after is not None:
                query["after"] = after.isoformat()
            if before is not None:
                query["before"] = before.isoformat()
            if cursor:
                query["cursor"] = cursor
            body = await self._call("list_events", partial(self._raw_json, "event", query))
            for event in body.get("events", []):
                yield event
            cursor = body.get("cursor")
            if not cursor:
                return

    async def mark_event_delivered(self, event_id: str) -> None:
        """Set ``isDelivered`` on an event (idempotent)."""
        await self._call(
            "mark_event_delivered",
            lambda: starkbank.event.update(event_id, is_delivered=True, user=self._user),
        )

    async def fetch_public_key(self) -> str:
        """PEM of Stark Bank's current signing key (``publicKeys[0]``)."""
        body = await self._call(
            "fetch_public_key",
            partial(self._raw_json, "public-key", {"limit": 1}),
        )
        try:
            return str(body["publicKeys"][0]["content"])
        except (KeyError, IndexError, TypeError):
            raise BankError("fetch_public_key", "no public key in the response") from None

    # --- webhooks and balance ---------------------------------------------------------------
    async def list_webhooks(self) -> list[Webhook]:
        """Every registered webhook."""
        items = await self._collect("list_webhooks", starkbank.webhook.page, {})
        return [convert.webhook(item) for item in items]

    async def create_webhook(self, url: str, subscriptions: Iterable[str]) -> Webhook:
        """Register a webhook. Not idempotent: see ``registration.ensure_webhook``."""
        subs = list(subscriptions)
        item = await self._call(
            "create_webhook",
            lambda: starkbank.webhook.create(url=url, subscriptions=subs, user=self._user),
        )
        return convert.webhook(item)

    async def delete_webhook(self, webhook_id: str) -> None:
        """Remove a webhook."""
        await self._call(
            "delete_webhook", lambda: starkbank.webhook.delete(webhook_id, user=self._user)
        )

    async def verify_credentials(self, policy: RetryPolicy | None = None) -> None:
        """One authenticated call (the balance) that Stark Bank answers only for a known
        project signing with its registered key. Raises ``BankInputError`` when refused
        (see ``bank.credentials``), ``BankUnavailableError`` when Stark Bank could not be
        reached within ``policy`` (default: the gateway's); the caller logs the outcome."""
        await run_bank_call(
            "verify_credentials",
            lambda: starkbank.balance.get(user=self._user),
            policy or self.policy,
            quiet=True,
        )

    async def get_balance(self) -> Balance:
        """The workspace balance."""
        item = await self._call("get_balance", lambda: starkbank.balance.get(user=self._user))
        return convert.balance(item)

    # --- paging -----------------------------------------------------------------------------
    def _raw_json(self, path: str, query: dict[str, Any]) -> dict[str, Any]:
        """GET ``path`` with the raw SDK request; runs in the worker thread."""
        return convert.raw_json(starkbank.request.get(path=path, query=query, user=self._user))

    async def _pages(
        self, operation: str, page: Callable[..., Any], query: dict[str, Any]
    ) -> AsyncIterator[Any]:
        cursor: str | None = None
        params = {key: _sent(value) for key, value in query.items() if value is not None}
        while True:
            call = partial(page, cursor=cursor, limit=PAGE_LIMIT, user=self._user, **params)
            items, cursor = await self._call(operation, call)
            for item in items:
                yield item
            if not cursor:
                return

    async def _collect(
        self, operation: str, page: Callable[..., Any], query: dict[str, Any]
    ) -> list[Any]:
        return [item async for item in self._pages(operation, page, query)]


def _sent(value: Any) -> Any:
    """A filter as the SDK takes it: any collection of names as a list."""
    return list(value) if isinstance(value, Iterable) and not isinstance(value, str) else value
