"""Structured logging as Flux controllers log: JSON lines with Flux's field names.

Every line has ``level``, ``ts`` (RFC 3339 UTC) and ``msg``; a reconcile binds
``controllerKind``, ``name``, ``namespace`` and ``reconcileID`` (and later
``revision``) with ``bound`` so every line it logs carries them; failures add
``error``. ``--log-encoding console`` gives human-readable lines instead.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator, MutableMapping
from typing import Any, TextIO

import structlog

LEVELS = {"trace": 5, "debug": logging.DEBUG, "info": logging.INFO, "error": logging.ERROR}


def configure(*, level: str = "info", encoding: str = "json", stream: TextIO | None = None) -> None:
    """Configure structlog for the process (call once, at start-up)."""
    if level not in LEVELS:
        raise ValueError(f"unknown log level {level!r}; want one of {', '.join(LEVELS)}")
    if encoding not in ("json", "console"):
        raise ValueError(f"unknown log encoding {encoding!r}; want json or console")
    renderer: Any = (
        structlog.processors.JSONRenderer(sort_keys=False)
        if encoding == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
            _error_field,
            structlog.processors.format_exc_info,
            structlog.processors.EventRenamer("msg"),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(file=stream or sys.stderr),
        cache_logger_on_first_use=False,
    )


def _error_field(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Render an ``error=<exception>`` value as its message, as Flux logs errors."""
    error = event.get("error")
    if isinstance(error, BaseException):
        event["error"] = str(error) or type(error).__name__
    return event


def get_logger(**initial: Any) -> Any:
    """A logger carrying ``initial`` key-values (plus whatever is bound in context)."""
    return structlog.get_logger(**initial)


@contextlib.contextmanager
def bound(**values: Any) -> Iterator[None]:
    """Bind ``values`` to every line logged in this context (task-local), then restore."""
    with structlog.contextvars.bound_contextvars(**values):
        yield
