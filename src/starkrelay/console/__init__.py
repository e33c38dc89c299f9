"""The operator console under ``/console`` and its JSON API under ``/api/v1``.

Server-rendered pages (Jinja2) with htmx for the live parts, all served from this package.
Off (404) unless ``ADMIN_TOKEN`` is set. Modules by concept: ``auth`` (sessions, CSRF,
one-time links), ``signin``, ``pages`` (overview, search, story), ``actions`` (dead letters,
money), ``overview``, ``story`` and ``story_sources``, ``export`` (CSV/JSON), ``reconcile_run``,
``api``, ``render``, ``static_files``, ``held`` (the outflow controls). ``router`` holds every
route; the app includes it once.
"""

from fastapi import APIRouter

from starkrelay.console import actions, api, held, pages, signin, static_files

router = APIRouter()
for part in (signin.router, pages.router, actions.router, static_files.router, api.router):
    router.include_router(part)
router.include_router(held.router)  # the outflow controls

__all__ = ["router"]
