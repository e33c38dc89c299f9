"""The console's static files, served from the package (no CDN, nothing from elsewhere).

``htmx.min.js`` is htmx 2.0.11 (https://htmx.org), copied unchanged from the ``htmx.org``
npm package's ``dist/htmx.min.js``; licence 0BSD (Zero-Clause BSD, see ``static/HTMX-LICENSE``).
SHA-256 d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

from starkrelay.console.auth import ConsoleOnDep

STATIC = Path(__file__).parent / "static"
FILES = {
    "htmx.min.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
"""The only files served, with their types."""

router = APIRouter(prefix="/console/static", include_in_schema=False)


@router.get("/{name}")
async def static_file(name: str, _: ConsoleOnDep) -> Response:
    """One of ``FILES``; cached by the browser for a day."""
    media_type = FILES.get(name)
    if media_type is None:
        raise HTTPException(status_code=404, detail="Not Found")
    body = (STATIC / name).read_bytes()
    headers = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}
    return Response(body, media_type=media_type, headers=headers)
