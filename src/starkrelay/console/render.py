"""How console pages are rendered: the Jinja2 templates, the filters people read (R$ amounts,
times in America/Sao_Paulo and UTC, relative times) and the headers every page carries.

Every page is rendered on the server; the only script is the vendored htmx
(``static/htmx.min.js``), so the Content-Security-Policy allows nothing from elsewhere.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from starkrelay.core.money import brl

SAO_PAULO = ZoneInfo("America/Sao_Paulo")

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
"""Sent with every console page and fragment."""


@dataclass(frozen=True)
class Moment:
    """One instant as people read it."""

    iso: str
    utc: str
    sao_paulo: str
    relative: str
    short: str = ""
    """``12-06 16:18:07``: São Paulo month, day and time, for lists."""


def to_datetime(value: datetime | float | int | str | None) -> datetime | None:
    """An aware UTC datetime from a datetime, epoch seconds or an ISO string; None if none."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC)
    try:
        return to_datetime(float(value))
    except ValueError:
        pass
    try:
        return to_datetime(datetime.fromisoformat(value))
    except ValueError:
        return None


def relative(moment: datetime, now: float | None = None) -> str:
    """``3 min ago`` / ``in 2 h`` / ``just now``."""
    delta = moment.timestamp() - (time.time() if now is None else now)
    seconds = abs(delta)
    if seconds < 5:
        return "just now"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min"), (1, "s")):
        if seconds >= size:
            amount = f"{int(seconds // size)} {unit}"
            break
    return f"in {amount}" if delta > 0 else f"{amount} ago"


def moment(value: datetime | float | int | str | None) -> Moment | None:
    """``value`` in São Paulo time, UTC and relative to now; None when there is no time."""
    when = to_datetime(value)
    if when is None:
        return None
    local = when.astimezone(SAO_PAULO)
    return Moment(
        iso=when.astimezone(UTC).isoformat(timespec="seconds"),
        utc=when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        sao_paulo=local.strftime("%Y-%m-%d %H:%M:%S ") + "São Paulo",
        relative=relative(when),
        short=local.strftime("%m-%d %H:%M:%S"),
    )


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
    templates.env.filters["brl"] = brl
    templates.env.globals["moment"] = moment
    templates.env.autoescape = True
    return templates


TEMPLATES = _templates()


def page(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render ``template`` with ``context`` (plus ``request``) and the security headers."""
    response = TEMPLATES.TemplateResponse(
        request, template, context, status_code=status_code, headers=headers
    )
    response.headers.update(SECURITY_HEADERS)
    return response
