"""Structured logging: one JSON object per line (or a readable console form), dotted events.

Use ``structlog.get_logger(__name__)`` and log an event name with ids as fields:
``log.info("campaign.slot.issued", campaign_id=..., slot=3, invoices=10)``. Fields whose name
suggests a secret (token, key, secret, password, authorization) are masked before rendering;
still, never pass a secret to a log call. Our own lines are rendered by structlog and written
straight to stderr (JSON by ``orjson``); standard-library loggers (uvicorn) go
through a logging handler to the same renderer. An exception, from either, is rendered as its
traceback text (``exception`` field in JSON). ``level`` is case-insensitive (``debug``).
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import orjson
import structlog

_SECRET_HINTS = ("token", "secret", "password", "private_key", "authorization", "signature")


@functools.lru_cache(maxsize=1024)  # field names come from the code: a few hundred at most
def _is_secret(name: str) -> bool:
    return any(hint in name.lower() for hint in _SECRET_HINTS)


def _mask_secrets(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for name in [name for name in event if _is_secret(name)]:
        event[name] = "***"
    return event


def _as_bytes(_: Any, __: str, line: Any) -> bytes:
    return line if isinstance(line, bytes) else line.encode()


def _as_text(_: Any, __: str, line: Any) -> str:
    return line.decode() if isinstance(line, bytes) else line


def configure_logging(level: str = "INFO", fmt: str = "json", stream: TextIO | None = None) -> None:
    """Set up structlog and the standard library for the whole process (idempotent). Lines go
    to ``stream`` (a text file with a ``buffer``, line-buffered), else to stderr."""

    def bytes_logger(*args: Any) -> structlog.BytesLogger:
        """Writes to the stream's buffer; stderr is the one of the logger's first use."""
        out = stream or sys.stderr
        return structlog.BytesLogger(out.buffer, name=args[0] if args else None)

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _mask_secrets,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(orjson.dumps, option=orjson.OPT_NON_STR_KEYS)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    # Our own lines: a call below the level is an empty method; the rest are rendered and
    # written to stderr as bytes, with no standard-library handler in between.
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
            _as_bytes,
        ],
        logger_factory=bytes_logger,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                # a standard-library record's exc_info (uvicorn's) becomes the
                # traceback text, never the repr of a traceback object
                structlog.processors.format_exc_info,
                renderer,
                _as_text,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
