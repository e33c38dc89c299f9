"""Browser tests: Playwright for Python driving Debian's Chromium (``/usr/bin/chromium``).

Without Chromium these tests skip on a developer's machine and FAIL in CI (``CI`` set):
``.ci/run`` and ``scripts/test-browser`` install it first. Every request the browser makes to
anything but 127.0.0.1 is aborted and recorded; each test then asserts none happened.
Screenshots go to ``tests/browser/artifacts/`` (git-ignored).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from scenario import ADMIN_TOKEN, Scenario, running_scenario

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

if not Path(CHROMIUM).exists():
    message = f"{CHROMIUM} is missing: run scripts/test-browser (it installs Chromium with apt-get)"
    if os.environ.get("CI"):
        raise pytest.UsageError(f"browser tests cannot run in CI: {message}")
    pytest.skip(message, allow_module_level=True)

from playwright.sync_api import (  # noqa: E402 (only once Chromium is known to exist)
    Browser,
    BrowserContext,
    Page,
    Playwright,
    Route,
    sync_playwright,
)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="session")
def scenario(redis_url: str) -> Iterator[Scenario]:
    with running_scenario(redis_url) as running:
        yield running


class Outside:
    """Requests the browser tried to send off the machine (all aborted)."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def guard(self, route: Route) -> None:
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            self.urls.append(route.request.url)
            route.abort("blockedbyclient")


@pytest.fixture
def outside() -> Outside:
    return Outside()


@pytest.fixture
def context(browser: Browser, outside: Outside, scenario: Scenario) -> Iterator[BrowserContext]:
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(base_url=scenario.url, accept_downloads=True)
    context.route("**/*", outside.guard)
    try:
        yield context
    finally:
        context.close()
    assert outside.urls == [], f"requests left 127.0.0.1: {outside.urls}"


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def sign_in(page: Page, token: str = ADMIN_TOKEN, next_path: str = "/console") -> None:
    """Sign in through the form, as a person would."""
    page.goto(f"/console/signin?next={next_path}")
    page.fill("#token", token)
    page.click("form.signin button[type=submit]")


@pytest.fixture
def signed_in(page: Page) -> Page:
    sign_in(page)
    page.wait_for_url("**/console")
    return page


def screenshot(page: Page, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
