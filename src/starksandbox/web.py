"""A small ASGI layer: requests, responses, routing and the API's error shape.

Kept minimal on purpose: the hot path (auth + one dictionary lookup + json.dumps) must stay
cheap. Paths have repeated slashes collapsed and a trailing slash ignored before routing,
as the SDK sends ``/v2//public-key`` and ``/v2//invoice/``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

_SLASHES = re.compile(r"/{2,}")


class ApiError(Exception):
    """A refusal in the API's shape: HTTP ``status`` with ``{"errors": [{code, message}]}``."""

    def __init__(self, errors: list[tuple[str, str]], status: int = 400) -> None:
        super().__init__("; ".join(f"{code}: {message}" for code, message in errors))
        self.errors = errors
        self.status = status

    @classmethod
    def one(cls, code: str, message: str, status: int = 400) -> ApiError:
        return cls([(code, message)], status)


def normalise_path(path: str) -> str:
    """Collapse repeated slashes and drop a trailing one (except for the root)."""
    path = _SLASHES.sub("/", path)
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    return path


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        """The body as JSON; an empty or malformed body is ``invalidJson``."""
        if not self.body:
            raise ApiError.one(
                "invalidJson", "The request body is empty; a JSON object is expected"
            )
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as error:
            raise ApiError.one(
                "invalidJson", f"The request body is not valid JSON: {error}"
            ) from None

    def json_object(self) -> dict[str, Any]:
        data = self.json()
        if not isinstance(data, dict):
            raise ApiError.one("invalidJson", "The request body must be a JSON object")
        return data


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(status=status, body=json.dumps(payload).encode())


def error_response(error: ApiError) -> Response:
    return json_response(
        {"errors": [{"code": code, "message": message} for code, message in error.errors]},
        error.status,
    )


Handler = Callable[[Request, dict[str, str]], "Response | Awaitable[Response]"]


class Router:
    """Routes by method and a path pattern whose ``{name}`` parts match within one segment.

    Static paths win; patterns are tried in the order they were added.
    """

    def __init__(self) -> None:
        self._static: dict[tuple[str, str], Handler] = {}
        self._patterns: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        if "{" not in pattern:
            self._static[(method, pattern)] = handler
            return
        parts = re.split(r"\{(\w+)\}", pattern)
        regex = "".join(
            re.escape(part) if index % 2 == 0 else f"(?P<{part}>[^/]+)"
            for index, part in enumerate(parts)
        )
        self._patterns.append((method, re.compile(f"^{regex}$"), handler))

    def resolve(self, method: str, path: str) -> tuple[Handler, dict[str, str]] | None:
        handler = self._static.get((method, path))
        if handler is not None:
            return handler, {}
        for route_method, regex, route_handler in self._patterns:
            if route_method == method:
                match = regex.match(path)
                if match:
                    return route_handler, match.groupdict()
        return None

    def knows_path(self, path: str) -> bool:
        if any(known == path for _, known in self._static):
            return True
        return any(regex.match(path) for _, regex, _ in self._patterns)


def parse_query(raw: bytes) -> dict[str, str]:
    return dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True))
