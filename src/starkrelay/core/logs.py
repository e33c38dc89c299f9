"""Structured logging: one JSON object per line (or a readable console form), dotted events.

Use ``structlog.get_logger(__name__)`` and log an event name with ids as fields:
``log.info("campaign.slot.issued", campaign_id=..., slot=3, invoices=10)``. Fields whose name
suggests a secret (token, key, secret, password, authorization) are masked before rendering;
still, never pass a secret to a log call. Standard-library loggers (uvicorn's) go
through the same renderer; an exception, from any, is rendered as its traceback text
(``exception`` field in JSON). ``level`` is case-insensitive (``debug`` or ``DEBUG``).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_HINTS = ("token", "secret", "password", "private_key", "authorization", "signature")


def _mask_secrets(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for name in list(event):
        if any(hint in name.lower() for hint in _SECRET_HINTS):
            event[name] = "***"
    return event


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Set up structlog and the standard library for the whole process (idempotent)."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _mask_secrets,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,  # a call below the level costs no processing
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                # a standard-library record's exc_info (uvicorn's) becomes the
                # traceback text, never the repr of a traceback object
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
