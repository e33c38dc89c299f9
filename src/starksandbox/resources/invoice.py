"""``/v2/invoice``: create, get, query, PATCH, pdf, qrcode, payment; and ``/v2/invoice/log``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from starksandbox import documents, simulation
from starksandbox.listing import parse_day, parse_limit, within_days
from starksandbox.models import Invoice
from starksandbox.resources.invoice_input import parse_invoice, parse_patch
from starksandbox.resources.logs import log_resource
from starksandbox.resources.routing import (
    Resource,
    add_rest_routes,
    common_filters,
    create_batch,
    workspace_binder,
)
from starksandbox.state import Workspace
from starksandbox.validation import Errors
from starksandbox.web import ApiError, Request, Response, Router, json_response

INVOICE_STATUSES = frozenset({"created", "paid", "canceled", "overdue", "expired"})
INVOICE_LOG_TYPES = frozenset(
    {"created", "paid", "credited", "canceled", "overdue", "expired", "reversed", "updated"}
)
INVOICES: Resource[Invoice] = Resource(
    lambda ws: ws.invoices, "invoice", "invalidInvoice", "Invoice"
)
INVOICE_LOGS = log_resource("invoice", lambda ws: ws.invoice_logs, INVOICE_LOG_TYPES)


def register(router: Router, current: Callable[[], Workspace]) -> None:
    """Add the invoice routes; ``current`` returns the live workspace."""
    bind = workspace_binder(current)
    add_rest_routes(router, bind, "/v2/invoice/log", query=INVOICE_LOGS.query, get=INVOICE_LOGS.get)
    router.add("GET", "/v2/invoice/log/{id}/pdf", bind(log_pdf))
    router.add("GET", "/v2/invoice/{uuid}.pdf", bind(public_pdf))  # before /{id}, which it matches
    add_rest_routes(
        router, bind, "/v2/invoice", create=create, query=query, get=INVOICES.get, update=update
    )
    router.add("GET", "/v2/invoice/{id}/pdf", bind(pdf))
    router.add("GET", "/v2/invoice/{id}/qrcode", bind(qrcode))
    router.add("GET", "/v2/invoice/{id}/payment", bind(payment))


def _crc_table() -> list[int]:
    table = []
    for high in range(256):
        crc = high << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
        table.append(crc)
    return table


_CRC_TABLE = _crc_table()


def _crc16(data: str) -> str:
    """CRC-16/CCITT-FALSE, as the Pix (EMV) code's last field requires."""
    crc = 0xFFFF
    for byte in data.encode():
        crc = ((crc << 8) & 0xFFFF) ^ _CRC_TABLE[(crc >> 8) ^ byte]
    return f"{crc:04X}"


def _field(tag: str, value: str) -> str:
    return f"{tag}{len(value):02d}{value}"


def brcode(uuid: str, amount: int) -> str:
    """A Pix copy-and-paste code (EMV) pointing at the emulator, with a valid CRC."""
    account = _field("00", "br.gov.bcb.pix") + _field(
        "25", f"brcode-h.sandbox.starkinfra.com/v2/{uuid}"
    )
    payload = (
        _field("00", "01")
        + _field("01", "12")
        + _field("26", account)
        + _field("52", "0000")
        + _field("53", "986")
        + (_field("54", f"{amount / 100:.2f}") if amount else "")
        + _field("58", "BR")
        + _field("59", "Stark Bank S.A.")
        + _field("60", "Sao Paulo")
        + _field("62", _field("05", "***"))
        + "6304"
    )
    return payload + _crc16(payload)


def create(ws: Workspace, request: Request, _: dict[str, str]) -> Response:
    def new_invoice(values: dict[str, Any], now: datetime) -> Invoice:
        uuid = ws.ids.hex32()
        invoice = Invoice(
            id=ws.ids.new(),
            nominal_amount=values["amount"],
            created=now,
            updated=now,
            uuid=uuid,
            brcode=brcode(uuid, values["amount"]),
            base_url=ws.base_url,
            **values,
        )
        ws.invoices.add(invoice)
        ws.invoice_uuids[uuid] = invoice.id
        simulation.track_invoice(ws, invoice)
        return invoice

    return create_batch(ws, request, "invoices", parse_invoice, new_invoice)


def query(ws: Workspace, request: Request, _: dict[str, str]) -> Response:
    q = request.query
    limit = parse_limit(q)
    after, before = parse_day(q, "after"), parse_day(q, "before")
    common = common_filters(q, INVOICE_STATUSES)

    def match(invoice: Invoice) -> bool:
        return common(invoice) and within_days((invoice.created,), after, before)

    return INVOICES.page(ws, q, match, limit)


def update(ws: Workspace, request: Request, params: dict[str, str]) -> Response:
    invoice = INVOICES.find(ws, params["id"])
    errors: Errors = []
    changes = parse_patch(request.json_object(), errors)
    if errors:
        raise ApiError(errors)
    if not changes:
        raise ApiError.one("invalidJson", "Give at least one of status, amount, due, expiration")
    if invoice.status in ("canceled", "expired"):
        raise ApiError.one(
            "invalidOperation", f"Invoice {invoice.id} is {invoice.status} and cannot change"
        )
    if invoice.status == "paid":
        if set(changes) != {"amount"}:
            raise ApiError.one(
                "invalidOperation",
                f"Invoice {invoice.id} is paid: only a lower amount (a reversal) may be set",
            )
        if changes["amount"] >= invoice.amount:
            raise ApiError.one(
                "invalidAmount",
                f"A paid invoice's amount can only be lowered (reversal); it is {invoice.amount}",
            )
        simulation.reverse_invoice(ws, invoice, changes["amount"])
        return json_response({"invoice": invoice.to_json()})
    if changes.get("status") == "canceled":
        simulation.cancel_invoice(ws, invoice)
        return json_response({"invoice": invoice.to_json()})
    if "amount" in changes:
        invoice.amount = invoice.nominal_amount = changes["amount"]
        invoice.brcode = brcode(invoice.uuid, invoice.amount)
    if "due" in changes:
        invoice.due = changes["due"]
    if "expiration" in changes:
        invoice.expiration = changes["expiration"]
    now = ws.clock.now()
    if invoice.status == "overdue" and invoice.due > now:
        invoice.status = "created"
    invoice.updated = now
    ws.add_log("invoice", invoice, "updated")
    if "due" in changes or "expiration" in changes:
        simulation.schedule_due_dates(ws, invoice)
    return json_response({"invoice": invoice.to_json()})


def pdf(ws: Workspace, _: Request, params: dict[str, str]) -> Response:
    invoice = INVOICES.find(ws, params["id"])
    return Response(body=documents.invoice_pdf(invoice.to_json()), content_type="application/pdf")


def public_pdf(ws: Workspace, _: Request, params: dict[str, str]) -> Response:
    """The invoice's ``pdf`` link (no signature needed, like a link sent to a payer)."""
    invoice_id = ws.invoice_uuids.get(params["uuid"])
    if invoice_id is None:
        raise ApiError.one("invalidInvoice", f"No invoice has the link {params['uuid']!r}")
    return pdf(ws, _, {"id": invoice_id})


def qrcode(ws: Workspace, request: Request, params: dict[str, str]) -> Response:
    invoice = INVOICES.find(ws, params["id"])
    raw = request.query.get("size", "7")
    if not raw.isdigit() or not 1 <= int(raw) <= 50:
        raise ApiError.one("invalidSize", f"size must be an integer from 1 to 50, got {raw!r}")
    return Response(body=documents.qrcode_png(invoice.brcode, int(raw)), content_type="image/png")


def payment(ws: Workspace, _: Request, params: dict[str, str]) -> Response:
    invoice = INVOICES.find(ws, params["id"])
    if invoice.payment is None:
        raise ApiError.one(
            "invalidInvoice", f"Invoice {invoice.id} is {invoice.status}: it has no payment"
        )
    return json_response({"payment": invoice.payment})


def log_pdf(ws: Workspace, _: Request, params: dict[str, str]) -> Response:
    log = INVOICE_LOGS.find(ws, params["id"])
    if log.type != "reversed":
        raise ApiError.one(
            "invalidInvoiceLog", f"Log {log.id} is {log.type}: only reversed logs have a receipt"
        )
    return Response(body=documents.reversal_pdf(log.to_json()), content_type="application/pdf")
