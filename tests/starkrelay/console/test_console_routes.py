"""Console sign-in, sessions, CSRF and the JSON API, over HTTP against a real app, Redis and
the emulator."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
import redis
from tests.support.relay_harness import RelayServer

from starkrelay.console.auth import SESSION_COOKIE, SIGNIN_COOKIE, one_time_signin_url
from starkrelay.core.settings import Settings
from starkrelay.core.store import keys_from_settings

pytestmark = pytest.mark.anyio

TOKEN = "console-test-admin-token-93b1"


class Browser(httpx.Client):
    """An HTTP client with its own cookie jar, like one browser."""


@pytest.fixture
def server(relay_settings: Callable[..., Settings]) -> Iterator[RelayServer]:
    with RelayServer(relay_settings(admin_token=TOKEN)) as running:
        yield running


def browser(server: RelayServer) -> Browser:
    return Browser(base_url=server.url, follow_redirects=False, timeout=10)


@pytest.fixture
def client(server: RelayServer) -> Iterator[Browser]:
    with browser(server) as one:
        yield one


def form_token(client: Browser) -> str:
    page = client.get("/console/signin")
    assert page.status_code == 200
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    return page.cookies[SIGNIN_COOKIE]


def sign_in(client: Browser, token: str = TOKEN, next_path: str = "/console") -> str:
    answer = client.post(
        "/console/signin",
        data={"token": token, "form_token": form_token(client), "next": next_path},
    )
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]


def csrf_of(client: Browser) -> str:
    page = client.get("/console/dead-letters")
    assert page.status_code == 200
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match
    return match[1]


def test_console_is_off_without_an_admin_token(relay_settings: Callable[..., Settings]) -> None:
    with RelayServer(relay_settings()) as bare, httpx.Client(base_url=bare.url) as off:
        for path in ("/console", "/console/signin", "/console/static/htmx.min.js"):
            assert off.get(path).status_code == 404
        assert off.post("/console/signin", data={"token": "x" * 20}).status_code == 404
        assert off.get("/api/v1/report.json").status_code == 404


def test_pages_need_a_session_and_a_wrong_token_is_refused(
    client: Browser, server: RelayServer
) -> None:
    answer = client.get("/console/money")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/signin?next=%2Fconsole%2Fmoney"
    refused = client.post(
        "/console/signin",
        data={"token": "wrong-token-of-some-length", "form_token": form_token(client)},
    )
    assert refused.status_code == 401
    assert "not the admin token" in refused.text
    assert SESSION_COOKIE not in refused.cookies
    without_form_cookie = browser(server)
    answer = without_form_cookie.post("/console/signin", data={"token": TOKEN, "form_token": "x"})
    assert answer.status_code == 403


def test_signing_in_sets_a_strict_http_only_cookie_and_opens_the_pages(client: Browser) -> None:
    answer = client.post(
        "/console/signin",
        data={"token": TOKEN, "form_token": form_token(client), "next": "https://evil.example/"},
    )
    assert answer.headers["location"] == "/console"  # never another site
    cookie = answer.headers["set-cookie"]
    assert f"{SESSION_COOKIE}=" in cookie
    for attribute in ("HttpOnly", "SameSite=strict", "Max-Age=28800", "Path=/"):
        assert attribute.lower() in cookie.lower()
    assert "secure" not in cookie.lower()  # plain http on 127.0.0.1
    for path in ("/console", "/console/live", "/console/dead-letters", "/console/money"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert page.headers["cache-control"] == "no-store"
    assert "No dead letters" in client.get("/console/dead-letters").text
    assert "No money report yet" in client.get("/console/money").text
    assert (
        client.get("/console/static/htmx.min.js")
        .headers["content-type"]
        .startswith("text/javascript")
    )


def test_the_cookie_is_secure_behind_an_https_url(relay_settings: Callable[..., Settings]) -> None:
    settings = relay_settings(admin_token=TOKEN, api_external_url="https://relay.example.com")
    with RelayServer(settings) as behind_proxy, browser(behind_proxy) as client:
        page = client.get("/console/signin")
        assert "secure" in page.headers["set-cookie"].lower()
        token = page.cookies[SIGNIN_COOKIE]
        answer = client.post(  # the browser behind the proxy talks https: it sends the cookie
            "/console/signin",
            data={"token": TOKEN, "form_token": token, "next": "/console"},
            headers={"Cookie": f"{SIGNIN_COOKIE}={token}"},
        )
        assert answer.status_code == 303
        assert "secure" in answer.headers["set-cookie"].lower()


def test_posts_need_the_sessions_csrf_token(client: Browser, server: RelayServer) -> None:
    stranger = browser(server)
    assert stranger.post("/console/money/reconcile", data={"csrf": "x"}).status_code == 403
    sign_in(client)
    assert client.post("/console/money/reconcile", data={}).status_code == 403
    assert client.post("/console/money/reconcile", data={"csrf": "forged"}).status_code == 403
    csrf = csrf_of(client)
    answer = client.post("/console/dead-letters/redrive", data={"csrf": csrf, "all": "1"})
    assert answer.status_code == 303
    assert "No dead letter to re-drive." in client.get("/console/dead-letters").text
    header = client.post("/console/signout", headers={"X-CSRF-Token": csrf})
    assert header.status_code == 303
    assert client.get("/console").status_code == 303  # the session is gone


def test_reconcile_now_reports_a_busy_lock_and_asks_the_page_to_reload(
    client: Browser, relay_settings: Callable[..., Settings], redis_url: str
) -> None:
    keys = keys_from_settings(relay_settings(admin_token=TOKEN))
    holder = redis.Redis.from_url(redis_url)
    holder.set(keys.reconcile_lock(), "another-replica", ex=60)  # a run elsewhere holds it
    try:
        sign_in(client)
        answer = client.post("/console/money/reconcile", data={"csrf": csrf_of(client)})
        assert answer.status_code == 303
        deadline = time.monotonic() + 10
        while 'data-state="running"' in (progress := client.get("/console/money/progress")).text:
            assert time.monotonic() < deadline, progress.text
            time.sleep(0.02)
        assert 'data-state="busy"' in progress.text
        assert "Another reconciliation was running" in progress.text
        assert progress.headers["hx-refresh"] == "true"  # htmx reloads the whole page
        assert "Another reconciliation was running" in client.get("/console/money").text
    finally:
        holder.delete(keys.reconcile_lock(), keys.console_reconcile_run())
        holder.close()


async def test_a_one_time_link_signs_in_once(
    client: Browser, server: RelayServer, relay_settings: Callable[..., Settings]
) -> None:
    settings = relay_settings(admin_token=TOKEN)
    link = await one_time_signin_url(settings, server.url)  # what the demo prints
    assert link.startswith(f"{server.url}/console/signin/link/")
    first = client.get(link)
    assert first.status_code == 303
    assert SESSION_COOKIE in first.cookies
    assert client.get("/console").status_code == 200
    again = browser(server).get(link)
    assert again.status_code == 401
    assert "already used or has expired" in again.text


def test_api_needs_the_bearer_token_and_answers_json(client: Browser) -> None:
    assert client.get("/api/v1/report.csv").status_code == 401
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    missing = client.get("/api/v1/report.json", headers=bearer)
    assert missing.status_code == 404
    assert "run a reconciliation" in missing.json()["detail"]
    assert client.get("/api/v1/invoices/424242", headers=bearer).status_code == 404
    assert client.get("/api/v1/reports", headers=bearer).json() == []
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/v1/invoices/{invoice_id}", "/api/v1/report.csv", "/api/v1/report.json"):
        assert path in paths
    assert not any(path.startswith("/console") for path in paths)


def replaying(server: RelayServer, cookie: str) -> Browser:
    """A browser that sends ``cookie`` as its session, as a stolen or kept cookie would be."""
    client = browser(server)
    client.cookies.set(SESSION_COOKIE, cookie)
    return client


def assert_refused_back_to_sign_in(client: Browser) -> None:
    page = client.get("/console/money")
    assert page.status_code == 303
    assert page.headers["location"].startswith("/console/signin?next=")
    action = client.post("/console/money/reconcile", data={"csrf": "whatever"})
    assert (action.status_code, action.json()["detail"]) == (403, "sign in first")


def test_signing_out_ends_the_session_on_the_server(client: Browser, server: RelayServer) -> None:
    sign_in(client)
    cookie = client.cookies[SESSION_COOKIE]
    csrf = csrf_of(client)
    assert client.post("/console/signout", data={"csrf": csrf}).status_code == 303
    with replaying(server, cookie) as replay:  # the cookie kept from before signing out
        assert_refused_back_to_sign_in(replay)
        assert replay.post("/console/signout", data={"csrf": csrf}).status_code == 403


async def test_a_new_admin_token_ends_every_session_and_pending_link(
    relay_settings: Callable[..., Settings],
) -> None:
    old = relay_settings(admin_token=TOKEN)
    with RelayServer(old) as before, browser(before) as client:
        sign_in(client)
        cookie = client.cookies[SESSION_COOKIE]
        assert client.get("/console/money").status_code == 200
    link = await one_time_signin_url(old, "http://unused")
    rotated = "console-test-rotated-token-5d8e"
    with RelayServer(relay_settings(admin_token=rotated)) as after:  # restarted, new token
        with replaying(after, cookie) as replay:
            assert_refused_back_to_sign_in(replay)
            assert replay.get("/console/money").status_code == 303  # and it stays ended
        with browser(after) as fresh:
            path = link.removeprefix("http://unused")
            assert fresh.get(path).status_code == 401  # issued under the old token
            sign_in(fresh, token=rotated)
            assert fresh.get("/console/money").status_code == 200
    with RelayServer(old) as back, replaying(back, cookie) as replay:  # the old token again
        assert replay.get("/console/money").status_code == 303  # the record is gone for good
