"""``/v2/event`` (query, get, PATCH isDelivered, DELETE) and ``/v2/event/attempt``."""

from __future__ import annotations

from collections.abc import Callable

from starksandbox.listing import parse_bool, parse_day, parse_limit, parse_list, within_days
from starksandbox.models import Attempt, Event
from starksandbox.resources.routing import workspace_binder
from starksandbox.state import Workspace
from starksandbox.validation import check_unknown_fields
from starksandbox.web import ApiError, Request, Response, Router, json_response


def register(router: Router, current: Callable[[], Workspace]) -> None:
    bind = workspace_binder(current)
    router.add("GET", "/v2/event/attempt", bind(query_attempts))
    router.add("GET", "/v2/event/attempt/{id}", bind(get_attempt))
    router.add("GET", "/v2/event", bind(query))
    router.add("GET", "/v2/event/{id}", bind(get))
    router.add("PATCH", "/v2/event/{id}", bind(update))
    router.add("DELETE", "/v2/event/{id}", bind(delete))


def _find(ws: Workspace, event_id: str) -> Event:
    event = ws.events.get(event_id)
    if event is None or event.deleted:
        raise ApiError.one("invalidEvent", f"Event {event_id!r} was not found")
    return event


def query(ws: Workspace, request: Request, _: dict[str, str]) -> Response:
    q = request.query
    limit = parse_limit(q)
    delivered = parse_bool(q, "isDelivered")
    after, before = parse_day(q, "after"), parse_day(q, "before")

    def match(event: Event) -> bool:
        return (
            not event.deleted
            and (delivered is None or event.is_delivered == delivered)
            and within_days((event.created,), after, before)
        )

    found, cursor = ws.events.page(match, limit, q.get("cursor"))
    return json_response({"events": [e.to_json() for e in found], "cursor": cursor})


def get(ws: Workspace, _: Request, params: dict[str, str]) -> Response:
    return json_response({"event": _find(ws, params["id"]).to_json()})


def update(ws: Workspace, request: Request, params: dict[str, str]) -> Response:
    event = _find(ws, params["id"])
    body = request.json_object()
    errors: list[tuple[str, str]] = []
    check_unknown_fields(body, frozenset({"isDelivered"}), "event", errors)
    if not isinstance(body.get("isDelivered"), bool):
        errors.append(("invalidJson", "isDelivered must be true or false"))
    if errors:
        raise ApiError(errors)
    event.is_delivered = body["isDelivered"]
    return json_response({"event": event.to_json()})


def delete(ws: Workspace, _: Request, params: dict[str, str]) -> Response:
    event = _find(ws, params["id"])
    event.deleted = True
    return json_response({"event": event.to_json()})


def query_attempts(ws: Workspace, request: Request, _: dict[str, str]) -> Response:
    q = request.query
    limit = parse_limit(q)
    event_ids = parse_list(q, "eventIds")
    webhook_ids = parse_list(q, "webhookIds")
    after, before = parse_day(q, "after"), parse_day(q, "before")

    def match(attempt: Attempt) -> bool:
        return (
            (event_ids is None or attempt.event_id in event_ids)
            and (webhook_ids is None or attempt.webhook_id in webhook_ids)
            and within_days((attempt.created,), after, before)
        )

    found, cursor = ws.attempts.page(match, limit, q.get("cursor"))
    return json_response({"attempts": [a.to_json() for a in found], "cursor": cursor})


def get_attempt(ws: Workspace, _: Request, params: dict[str, str]) -> Response:
    attempt = ws.attempts.get(params["id"])
    if attempt is None:
        raise ApiError.one("invalidEventAttempt", f"Event attempt {params['id']!r} was not found")
    return json_response({"attempt": attempt.to_json()})
