"""``/v2/<resource>/log`` and ``/v2/<resource>/log/{id}``: the log listing and lookup that
invoices and transfers share; only the table, the allowed types and the names differ.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starksandbox.listing import Table, parse_day, parse_limit, parse_list, within_days
from starksandbox.models import Log
from starksandbox.resources.routing import Resource
from starksandbox.state import Workspace
from starksandbox.web import ApiError, Request, Response


@dataclass(frozen=True)
class LogResource(Resource[Log]):
    """The log endpoints of one resource (``key`` is ``log``).

    ``types`` are the accepted values of the ``types`` filter; ``subject_ids`` names the
    query parameter filtering by the logged entity's id (``invoiceIds``); ``error_code`` is the
    code of every refusal (``invalidInvoiceLog``) and ``noun`` how the not-found message names
    a log (``Invoice log``).
    """

    types: frozenset[str] = frozenset()
    subject_ids: str = ""

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

        return self.page(ws, q, match, limit, subject_ids)


def log_resource(
    kind: str, table: Callable[[Workspace], Table[Log]], types: frozenset[str]
) -> LogResource:
    """The logs of ``kind`` (``invoice``): filtered by ``invoiceIds``, refused with
    ``invalidInvoiceLog``, named ``Invoice log``."""
    name = kind.capitalize()
    return LogResource(table, "log", f"invalid{name}Log", f"{name} log", types, f"{kind}Ids")
