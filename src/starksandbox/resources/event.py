"""``/v2/event`` (query, get, PATCH isDelivered, DELETE) and ``/v2/event/attempt``."""

from __future__ import annotations

from collections.abc import Callable

from starksandbox.listing import parse_bool, parse_day, parse_limit, parse_list, within_days
from starksandbox.models import Attempt, Event
from starksandbox.resources.routing import Resource, add_rest_routes, workspace_binder
from starksandbox.state import Workspace
from starksandbox.validation import check_fields
from starksandbox.web import ApiError, Request, Response, Router, json_response

EVENTS: Resource[Event] = Resource(lambda ws: ws.events, "event", "invalidEvent", "Event")
ATTEMPTS: Resource[Attempt] = Resource(
    lambda ws: ws.attempts, "attempt", "invalidEventAttempt", "Event attempt"
)


def register(router: Router, current: Callable[[], Workspace]) -> None:
    bind = workspace_binder(current)
    add_rest_routes(router, bind, "/v2/event/attempt", query=query_attempts, get=ATTEMPTS.get)
    add_rest_routes(
        router, bind, "/v2/event", query=query, get=EVENTS.get, update=update, delete=delete
    )


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

    return EVENTS.page(ws, q, match, limit)


def update(ws: Workspace, request: Request, params: dict[str, str]) -> Response:
    event = EVENTS.find(ws, params["id"])
    body = request.json_object()
    errors: list[tuple[str, str]] = []
    check_fields(body, frozenset({"isDelivered"}), "event", errors)
    if not isinstance(body.get("isDelivered"), bool):
        errors.append(("invalidJson", "isDelivered must be true or false"))
    if errors:
        raise ApiError(errors)
    event.is_delivered = body["isDelivered"]
    return json_response({"event": event.to_json()})


def delete(ws: Workspace, _: Request, params: dict[str, str]) -> Response:
    event = EVENTS.find(ws, params["id"])
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

    return ATTEMPTS.page(ws, q, match, limit)
