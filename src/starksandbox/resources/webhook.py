"""``/v2/webhook`` (create, get, query, delete), ``/v2/balance`` and ``/v2/public-key``.

Webhook URLs may be plain ``http`` (local receivers); one live webhook per URL
(a second one is ``invalidWebhookUrl``).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from starksandbox.clock import wire_datetime
from starksandbox.listing import parse_limit
from starksandbox.models import Webhook
from starksandbox.resources.routing import Resource, add_rest_routes, workspace_binder
from starksandbox.state import Workspace
from starksandbox.validation import check_fields
from starksandbox.web import ApiError, Request, Response, Router, json_response

SUBSCRIPTIONS = frozenset(
    {
        "invoice",
        "transfer",
        "deposit",
        "boleto",
        "boleto-payment",
        "brcode-payment",
        "utility-payment",
        "tax-payment",
        "darf-payment",
        "payment-request",
        "boleto-holmes",
        "invoice-pull-request",
        "invoice-pull-subscription",
    }
)
WEBHOOKS: Resource[Webhook] = Resource(
    lambda ws: ws.webhooks, "webhook", "invalidWebhookId", "Webhook"
)


def register(
    router: Router, current: Callable[[], Workspace], public_key: Callable[[], tuple[str, str]]
) -> None:
    """``public_key`` returns (PEM, created wire datetime) of the emulator's signing key."""

    bind = workspace_binder(current)

    def public_keys(_: Request, __: dict[str, str]) -> Response:
        pem, created = public_key()
        return json_response({"publicKeys": [{"content": pem, "created": created}], "cursor": None})

    add_rest_routes(
        router, bind, "/v2/webhook", create=create, query=query, get=WEBHOOKS.get, delete=delete
    )
    router.add("GET", "/v2/balance", bind(balance))
    router.add("GET", "/v2/public-key", public_keys)


def create(ws: Workspace, request: Request, _: dict[str, str]) -> Response:
    body = request.json_object()
    errors: list[tuple[str, str]] = []
    check_fields(body, frozenset({"url", "subscriptions"}), "webhook", errors)
    url = body.get("url")
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        errors.append(("invalidWebhookUrl", f"url must be an http(s) URL, got {url!r}"))
    elif any(h.url == url and not h.deleted for h in ws.webhooks.items):
        errors.append(("invalidWebhookUrl", f"a webhook for {url!r} already exists"))
    subscriptions = body.get("subscriptions")
    if (
        not isinstance(subscriptions, list)
        or not subscriptions
        or not all(isinstance(s, str) and s in SUBSCRIPTIONS for s in subscriptions)
    ):
        errors.append(
            (
                "invalidSubscriptions",
                f"subscriptions must be a non-empty list among {sorted(SUBSCRIPTIONS)}",
            )
        )
    if errors:
        raise ApiError(errors)
    assert isinstance(url, str)
    assert isinstance(subscriptions, list)
    webhook = ws.webhooks.add(
        Webhook(id=ws.ids.new(), url=url, subscriptions=list(dict.fromkeys(subscriptions)))
    )
    return json_response({"message": "Webhook successfully created", "webhook": webhook.to_json()})


def query(ws: Workspace, request: Request, _: dict[str, str]) -> Response:
    return WEBHOOKS.page(ws, request.query, lambda w: not w.deleted, parse_limit(request.query))


def delete(ws: Workspace, _: Request, params: dict[str, str]) -> Response:
    webhook = WEBHOOKS.find(ws, params["id"])
    webhook.deleted = True
    return json_response({"message": "Webhook successfully deleted", "webhook": webhook.to_json()})


def balance(ws: Workspace, _: Request, __: dict[str, str]) -> Response:
    entry = {
        "id": ws.balance_id,
        "amount": ws.balance,
        "currency": "BRL",
        "updated": wire_datetime(ws.balance_updated),
    }
    return json_response({"balances": [entry], "cursor": None})
