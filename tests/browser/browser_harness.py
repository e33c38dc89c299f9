"""What the browser tests share: where Chromium is and how it starts, where screenshots go,
and signing in as a person would."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from browser_scenario import ADMIN_TOKEN

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).parent / "artifacts"
DOCS = Path(__file__).resolve().parents[2] / "docs"


def sign_in(page: Page, token: str = ADMIN_TOKEN, next_path: str = "/console") -> None:
    """Sign in through the form, as a person would."""
    page.goto(f"/console/signin?next={next_path}")
    page.fill("#token", token)
    page.click("form.signin button[type=submit]")


DOCS_HEIGHT = 1200
"""Pixels of a page kept in its docs picture (the top of a long list is enough)."""


def screenshot(
    page: Page, name: str, *, docs: bool = False, docs_height: int = DOCS_HEIGHT
) -> Path:
    """A full-page screenshot in ``ARTIFACTS``; with ``docs`` and
    ``STARKRELAY_UPDATE_DOCS_SCREENSHOT`` set, also ``docs/console-<name>.png`` (its top
    ``docs_height`` pixels)."""
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if docs and os.environ.get("STARKRELAY_UPDATE_DOCS_SCREENSHOT"):
        width = page.evaluate("() => document.documentElement.scrollWidth")
        height = page.evaluate("() => document.documentElement.scrollHeight")
        clip = {"x": 0, "y": 0, "width": width, "height": min(height, docs_height)}
        page.screenshot(path=str(DOCS / f"console-{name}.png"), full_page=True, clip=clip)
    return path
