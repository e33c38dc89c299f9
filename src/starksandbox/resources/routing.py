"""Routes whose handlers act on the live workspace."""

from __future__ import annotations

from collections.abc import Callable

from starksandbox.state import Workspace
from starksandbox.web import Request, Response

WorkspaceHandler = Callable[[Workspace, Request, dict[str, str]], Response]
Route = Callable[[Request, dict[str, str]], Response]


def workspace_binder(current: Callable[[], Workspace]) -> Callable[[WorkspaceHandler], Route]:
    """Turn ``handler(ws, request, params)`` into a route for ``Router.add``.

    ``current`` is called on every request, so a route always acts on the workspace live at
    that moment (``/sandbox/reset`` replaces it).
    """

    def bind(handler: WorkspaceHandler) -> Route:
        return lambda request, params: handler(current(), request, params)

    return bind
