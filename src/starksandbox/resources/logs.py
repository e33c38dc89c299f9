"""``/v2/<resource>/log`` and ``/v2/<resource>/log/{id}``: the log listing and lookup that
invoices and transfers share; only the table, the allowed types and the names differ.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starksandbox.listing import Table, parse_day, parse_limit, parse_list, within_days
from starksandbox.models import Log
from starksandbox.state import Workspace
from starksandbox.web import ApiError, Request, Response, json_response


@dataclass(frozen=True)
class LogResource:
    """The log endpoints of one resource.

    ``table`` picks the resource's logs from a workspace; ``types`` are the accepted values
    of the ``types`` filter; ``subject_ids`` names the query parameter filtering by the
    logged entity's id (``invoiceIds``); ``error_code`` is the code of every refusal
    (``invalidInvoiceLog``) and ``noun`` how the not-found message names a log (``Invoice log``).
    """

    table: Callable[[Workspace], Table[Log]]
    types: frozenset[str]
    subject_ids: str
    error_code: str
    noun: str

    def find(self, ws: Workspace, log_id: str) -> Log:
        """The log ``log_id``; an unknown id is refused with ``error_code``."""
        log = self.table(ws).get(log_id)
        if log is None:
            raise ApiError.one(self.error_code, f"{self.noun} {log_id!r} was not found")
        return log

    def get(self, ws: Workspace, _: Request, params: dict[str, str]) -> Response:
        return json_response({"log": self.find(ws, params["id"]).to_json()})

    def query(self, ws: Workspace, request: Request, _: dict[str, str]) -> Response:
        """Newest first, paged; filters ``types``, ``subject_ids``, ``after`` and ``before``."""
        q = request.query
        limit = parse_limit(q)
        types = parse_list(q, "types")
        subject_ids = parse_list(q, self.subject_ids)
        after, before = parse_day(q, "after"), parse_day(q, "before")
        if types and not types <= self.types:
            raise ApiError.one(self.error_code, f"types must be among {sorted(self.types)}")

        def match(log: Log) -> bool:
            return (
                (types is None or log.type in types)
                and (subject_ids is None or log.subject_id in subject_ids)
                and within_days((log.created,), after, before)
            )

        found, cursor = self.table(ws).page(match, limit, q.get("cursor"), subject_ids)
        return json_response({"logs": [log.to_json() for log in found], "cursor": cursor})
