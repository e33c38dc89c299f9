"""What the resources share: routes whose handlers act on the live workspace, the lookup and
listing of one kind of entity, and the create of a batch of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from starksandbox.listing import Table, parse_list
from starksandbox.models import Invoice, Transfer
from starksandbox.state import Snapshottable, Workspace
from starksandbox.validation import Errors
from starksandbox.web import ApiError, Request, Response, Router, json_response

WorkspaceHandler = Callable[[Workspace, Request, dict[str, str]], Response]
Route = Callable[[Request, dict[str, str]], Response]
T = TypeVar("T", bound=Snapshottable)


def workspace_binder(current: Callable[[], Workspace]) -> Callable[[WorkspaceHandler], Route]:
    """Turn ``handler(ws, request, params)`` into a route for ``Router.add``.

    ``current`` is called on every request, so a route always acts on the workspace live at
    that moment (``/sandbox/reset`` replaces it).
    """

    def bind(handler: WorkspaceHandler) -> Route:
        return lambda request, params: handler(current(), request, params)

    return bind


_REST = {
    "create": "POST",
    "query": "GET",
    "get": "GET /{id}",
    "update": "PATCH /{id}",
    "delete": "DELETE /{id}",
}


def add_rest_routes(
    router: Router,
    bind: Callable[[WorkspaceHandler], Route],
    path: str,
    **handlers: WorkspaceHandler,
) -> None:
    """The API's routes of one resource at ``path``, in the order given: ``create`` is
    ``POST path``, ``query`` ``GET path``; ``get``, ``update``, ``delete`` are ``GET``, ``PATCH``,
    ``DELETE path/{id}``."""
    for name, handler in handlers.items():
        method, _, suffix = _REST[name].partition(" ")
        router.add(method, path + suffix, bind(handler))


@dataclass(frozen=True)
class Resource(Generic[T]):
    """One kind of entity: ``table`` picks it from a workspace, ``key`` names one in JSON
    (``invoice``; a page of them is ``invoices``), ``error_code`` and ``noun`` refuse an
    unknown id (``invalidInvoice``, "Invoice '<id>' was not found")."""

    table: Callable[[Workspace], Table[T]]
    key: str
    error_code: str
    noun: str

    def find(self, ws: Workspace, item_id: str) -> T:
        """The entity ``item_id``; an unknown (or deleted) id is refused with ``error_code``."""
        return self.table(ws).find(item_id, self.error_code, self.noun)

    def get(self, ws: Workspace, _: Request, params: dict[str, str]) -> Response:
        return json_response({self.key: self.find(ws, params["id"]).to_json()})

    def page(
        self,
        ws: Workspace,
        query: dict[str, str],
        match: Callable[[T], bool],
        limit: int,
        keys: set[str] | None = None,
    ) -> Response:
        """One page of the matches, newest first, after the query's ``cursor``."""
        found, cursor = self.table(ws).page(match, limit, query.get("cursor"), keys)
        return json_response({f"{self.key}s": [x.to_json() for x in found], "cursor": cursor})


def common_filters(
    query: dict[str, str], statuses: frozenset[str]
) -> Callable[[Invoice | Transfer], bool]:
    """The ``status`` (refused with ``invalidStatus`` unless among ``statuses``), ``ids`` and
    ``tags`` filters that invoice and transfer listings share; a filter not given matches all."""
    wanted = parse_list(query, "status")
    tags = parse_list(query, "tags", lower=True)
    ids = parse_list(query, "ids")
    if wanted and not wanted <= statuses:
        raise ApiError.one("invalidStatus", f"status must be among {sorted(statuses)}")
    return lambda item: (
        (wanted is None or item.status in wanted)
        and (ids is None or item.id in ids)
        and (tags is None or not tags.isdisjoint(item.tags))
    )


Parse = Callable[[Any, str, datetime, Errors], dict[str, Any]]


def create_batch(
    ws: Workspace,
    request: Request,
    key: str,
    parse: Parse,
    create: Callable[[dict[str, Any], datetime], Snapshottable],
    refuse: Callable[[list[dict[str, Any]]], Errors] = lambda _: [],
) -> Response:
    """``POST`` of 1 to 100 items under ``key`` (``invoices``), all or none.

    ``parse(item, "invoices[i]", now, errors)`` checks each item; ``refuse(parsed)`` adds the
    refusals that span items. Any error refuses the whole batch (every error in one answer);
    otherwise ``create(values, now)`` makes each entity, in order.
    """
    items = request.json_object().get(key)
    if not isinstance(items, list):
        raise ApiError.one(
            "invalidJson", f"The body must be {{{key!r}: [...]}} with 1 to 100 items"
        )
    if not 1 <= len(items) <= 100:
        raise ApiError.one(
            "invalidJson", f"{key} must hold from 1 to 100 items per request, got {len(items)}"
        )
    now = ws.clock.now()
    errors: Errors = []
    parsed = [parse(item, f"{key}[{i}]", now, errors) for i, item in enumerate(items)]
    errors += refuse(parsed)
    if errors:
        raise ApiError(errors)
    created = [create(values, now).to_json() for values in parsed]
    noun = key[:-1].capitalize()
    return json_response({"message": f"{noun}(s) successfully created", key: created})
