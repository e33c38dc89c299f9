"""Signing in and out of the console: the token form, the one-time link, sign-out."""

from __future__ import annotations

import secrets

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from starkrelay.console.audit import client_address, record_action
from starkrelay.console.auth import (
    SESSION_COOKIE,
    SIGNIN_COOKIE,
    ActionSessionDep,
    ConsoleOnDep,
    end_session,
    load_session,
    open_session,
    read_form,
    safe_next,
    same_secret,
    set_cookie,
    token_matches,
    use_signin_link,
)
from starkrelay.console.frame import ConsoleRoute
from starkrelay.console.render import SECURITY_HEADERS, page

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)


def _signin_page(
    request: Request, services: ConsoleOnDep, next_path: str, error: str = "", status: int = 200
) -> Response:
    form_token = secrets.token_urlsafe(24)
    response = page(
        request,
        "signin.html",
        {"next": next_path, "form_token": form_token, "error": error, "title": "Sign in"},
        status_code=status,
    )
    set_cookie(
        response, request, services, SIGNIN_COOKIE, form_token, max_age=900, path="/console/signin"
    )
    return response


async def _signed_in(
    request: Request, services: ConsoleOnDep, action: str, detail: str, to: str
) -> Response:
    """Open a session, record how it was opened, and send the browser to ``to`` with it."""
    value, session = await open_session(services)
    await record_action(services.store, request, action, detail=detail, session=session.label)
    response = RedirectResponse(to, status_code=303)
    response.headers.update(SECURITY_HEADERS)
    max_age = int(services.settings.console_session_seconds)
    set_cookie(response, request, services, SESSION_COOKIE, value, max_age=max_age, path="/")
    return response


@router.get("/signin")
async def signin_form(request: Request, services: ConsoleOnDep, next: str = "") -> Response:
    """The sign-in form (straight to ``next`` when already signed in)."""
    if await load_session(services, request.cookies.get(SESSION_COOKIE)):
        return RedirectResponse(safe_next(next), status_code=303)
    return _signin_page(request, services, safe_next(next))


@router.post("/signin")
async def signin(request: Request, services: ConsoleOnDep) -> Response:
    """Check the token (constant time) and the form's own CSRF cookie; open a session."""
    form = await read_form(request)
    next_path = safe_next(form.get("next"))
    expected = request.cookies.get(SIGNIN_COOKIE, "")
    given = form.get("form_token", "")
    if not expected or not same_secret(given, expected):
        return _signin_page(
            request, services, next_path, "The form expired; please sign in again.", 403
        )
    if not token_matches(services, form.get("token", "")):
        log.warning("console.signin.refused", client=client_address(request))
        await record_action(services.store, request, "signin", outcome="refused",
                            detail="not the admin token")  # fmt: skip
        return _signin_page(request, services, next_path, "That is not the admin token.", 401)
    response = await _signed_in(request, services, "signin", "admin token", next_path)
    response.delete_cookie(SIGNIN_COOKIE, path="/console/signin")
    return response


@router.get("/signin/link/{token}")
async def signin_link(token: str, request: Request, services: ConsoleOnDep) -> Response:
    """A one-time link (``starkrelay demo --keep-running``): signs in once, then is spent."""
    if not await use_signin_link(services.store, services.settings, token):
        await record_action(services.store, request, "signin_link",
                            outcome="refused", detail="used or expired link")  # fmt: skip
        return _signin_page(
            request, services, "/console",
            "That sign-in link was already used or has expired; sign in with the token.", 401,
        )  # fmt: skip
    return await _signed_in(request, services, "signin_link", "one-time link", "/console")


@router.post("/signout")
async def signout(request: Request, session: ActionSessionDep, services: ConsoleOnDep) -> Response:
    await end_session(services, session)
    await record_action(services.store, request, "signout", session=session.label)
    response = RedirectResponse("/console/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
