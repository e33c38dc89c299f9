"""Throttling faults: HTTP 429 Too Many Requests for ``/v2`` requests.

Two faults, decided before authentication and before any handler runs, so a throttled
request creates nothing and changes no state:

- ``api_requests_per_second``: a budget per whole second of the budget's clock (the
  emulator's clock unless one is given). Every ``/v2`` request that reaches the check spends
  one; once the second's budget is spent, the rest of that second is answered 429 with
  ``Retry-After: 1``.
- ``api_throttle_rate``: a share of the requests within the budget is answered 429, with
  ``Retry-After: <api_throttle_retry_after>`` when that is set.

Both answer with the body ``api_throttle_body`` names. ``/sandbox`` controls, the public
invoice PDF links and webhook deliveries never pass here.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from starksandbox.config import Faults
from starksandbox.web import Response, json_response

TOO_MANY_REQUESTS = 429
_MESSAGE = "Too many requests; wait and send the request again"


class RequestBudget:
    """Requests taken in the current whole second of ``now()`` (epoch seconds).

    ``now`` is read on every request, so a test may hold it still to keep every call in one
    second. The count starts over whenever ``now()`` reaches another second.
    """

    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now
        self._second: int | None = None
        self._taken = 0

    def take(self, per_second: int) -> bool:
        """Take one request from this second's budget; False once ``per_second`` were taken."""
        second = math.floor(self.now())
        if second != self._second:
            self._second, self._taken = second, 0
        if self._taken >= per_second:
            return False
        self._taken += 1
        return True


def throttled(faults: Faults, budget: RequestBudget, rng: random.Random) -> Response | None:
    """The 429 answer for this request, or None when it may go on."""
    per_second = faults.api_requests_per_second
    if per_second and not budget.take(per_second):
        return too_many_requests(faults.api_throttle_body, retry_after=1)
    if faults.api_throttle_rate and rng.random() < faults.api_throttle_rate:
        return too_many_requests(faults.api_throttle_body, faults.api_throttle_retry_after)
    return None


def too_many_requests(body: str, retry_after: int | None) -> Response:
    """A 429 with ``body`` (``json``, ``plain`` or ``empty``) and ``Retry-After`` if given."""
    if body == "json":
        response = json_response(
            {"errors": [{"code": "tooManyRequests", "message": _MESSAGE}]}, TOO_MANY_REQUESTS
        )
    elif body == "plain":
        response = Response(TOO_MANY_REQUESTS, b"Too Many Requests", "text/plain; charset=utf-8")
    else:
        response = Response(TOO_MANY_REQUESTS, b"", "text/plain; charset=utf-8")
    if retry_after is not None:
        response.headers["retry-after"] = str(retry_after)
    return response
