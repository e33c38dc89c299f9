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
from browser_harness import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, sign_in
from browser_scenario import Scenario, running_scenario
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    Route,
    sync_playwright,
)


# Module scope, not session: while Playwright's sync API runs, its event loop counts as running
# in this thread, so asyncio.run() in any later test would fail.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        message = (
            f"{CHROMIUM} is missing: scripts/test-browser installs it (apt-get install chromium)"
        )
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run in CI: {message}")
        pytest.skip(message)
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="module")
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


@pytest.fixture
def signed_in(page: Page) -> Page:
    sign_in(page)
    page.wait_for_url("**/console")
    return page
