"""The operator console under ``/console`` and its JSON API under ``/api/v1``.

Server-rendered pages (Jinja2) with htmx for the live parts, all served from this package.
Off (404) unless ``ADMIN_TOKEN`` is set. Modules by concept:

- routes: ``signin``, ``pages`` (overview, story, the needs-action banner), ``browse`` (the
  invoice, delivery and operator-action lists; per-invoice exports), ``actions`` (dead
  letters, acknowledgements, the outflow controls), ``money`` (balance, report, reconcile,
  history), ``api``, ``static_files``;
- what they show: ``frame`` (what every page carries, the Redis-down page), ``needs`` (what
  needs a person), ``listing`` (bounded pages of Redis indexes), ``audit`` (operator actions),
  ``overview``, ``story`` (with ``story_steps`` and ``story_sources``), ``balance``,
  ``money_view`` (the report's equation and chart), ``export`` (the report as files),
  ``invoice_export`` (one row per invoice), ``reconcile_run``; ``auth`` (sessions, CSRF,
  one-time links), ``render``.

``router`` holds every route; the app includes it once.
"""

from fastapi import APIRouter

from starkrelay.console import actions, api, browse, money, pages, signin, static_files

router = APIRouter()
for part in (
    signin.router,
    pages.router,
    browse.router,
    actions.router,
    money.router,
    static_files.router,
    api.router,
):
    router.include_router(part)

__all__ = ["router"]
