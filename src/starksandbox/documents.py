"""Real documents: invoice and receipt PDFs (fpdf2) and Pix QR code PNGs (segno)."""

from __future__ import annotations

import io
from typing import Any

import segno
from fpdf import FPDF


def qrcode_png(content: str, size: int) -> bytes:
    """A PNG of ``content`` as a QR code; ``size`` (1-50) is the pixel size of one module."""
    buffer = io.BytesIO()
    segno.make(content, error="m").save(buffer, kind="png", scale=size, border=2)
    return buffer.getvalue()


def _latin(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


def _money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}R$ {whole:,}.{part:02d}".replace(",", "_").replace(".", ",").replace("_", ".")


def document_pdf(title: str, lines: list[tuple[str, Any]], qr_content: str | None = None) -> bytes:
    """A one-page PDF with a title, ``label: value`` lines and an optional QR code."""
    pdf = FPDF(format="A4")
    pdf.set_title(_latin(title))
    pdf.set_author("starksandbox")
    pdf.add_page()
    pdf.set_font("Helvetica", style="B", size=16)
    pdf.cell(0, 12, _latin(title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    pdf.cell(
        0,
        6,
        "Emulated document (starksandbox) - not a real payment slip",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(4)
    pdf.set_font("Helvetica", size=11)
    for label, value in lines:
        shown = _money(value) if label.endswith("(R$)") and isinstance(value, int) else str(value)
        pdf.cell(60, 7, _latin(label))
        pdf.multi_cell(0, 7, _latin(shown), new_x="LMARGIN", new_y="NEXT")
    if qr_content:
        pdf.ln(4)
        pdf.image(io.BytesIO(qrcode_png(qr_content, 4)), w=60)
        pdf.ln(2)
        pdf.set_font("Courier", size=7)
        pdf.multi_cell(0, 4, _latin(qr_content), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def invoice_pdf(invoice: dict[str, Any]) -> bytes:
    return document_pdf(
        f"Invoice {invoice['id']}",
        [
            ("Name", invoice["name"]),
            ("Tax ID", invoice["taxId"]),
            ("Amount (R$)", invoice["amount"]),
            ("Nominal amount (R$)", invoice["nominalAmount"]),
            ("Due", invoice["due"]),
            ("Fine (%)", invoice["fine"]),
            ("Interest (% a month)", invoice["interest"]),
            ("Status", invoice["status"]),
            ("Created", invoice["created"]),
        ],
        qr_content=invoice["brcode"],
    )


def transfer_pdf(transfer: dict[str, Any]) -> bytes:
    return document_pdf(
        f"Transfer receipt {transfer['id']}",
        [
            ("Receiver", transfer["name"]),
            ("Tax ID", transfer["taxId"]),
            ("Bank code", transfer["bankCode"]),
            ("Branch", transfer["branchCode"]),
            ("Account", transfer["accountNumber"]),
            ("Amount (R$)", transfer["amount"]),
            ("Fee (R$)", transfer["fee"]),
            ("Status", transfer["status"]),
            ("Scheduled", transfer["scheduled"]),
            ("Transactions", ", ".join(transfer["transactionIds"]) or "-"),
        ],
    )


def reversal_pdf(log: dict[str, Any]) -> bytes:
    invoice = log["invoice"]
    return document_pdf(
        f"Invoice reversal receipt {log['id']}",
        [
            ("Invoice", invoice["id"]),
            ("Payer name", invoice["name"]),
            ("Remaining amount (R$)", invoice["amount"]),
            ("Nominal amount (R$)", invoice["nominalAmount"]),
            ("Reversed at", log["created"]),
        ],
    )
