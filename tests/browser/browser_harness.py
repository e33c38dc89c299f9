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


def sign_in(page: Page, token: str = ADMIN_TOKEN, next_path: str = "/console") -> None:
    """Sign in through the form, as a person would."""
    page.goto(f"/console/signin?next={next_path}")
    page.fill("#token", token)
    page.click("form.signin button[type=submit]")


def screenshot(page: Page, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
