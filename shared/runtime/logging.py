"""Structured logging as Flux controllers log: JSON lines with Flux's field names.

Every line has ``level``, ``ts`` (RFC 3339 UTC) and ``msg``; a reconcile binds
``controllerKind``, ``name``, ``namespace`` and ``reconcileID`` (and later
``revision``) with ``bound`` so every line it logs carries them; failures add
``error``. ``--log-encoding console`` gives human-readable lines instead.

Records of the standard ``logging`` module (aiohttp's ``aiohttp.server``,
``aiohttp.access`` and ``aiohttp.web``, asyncio's, our libraries') are
rendered the same way, with ``logger`` naming their source and their
``extra`` values as fields: one line each, an exception as ``error`` (its
message) plus ``exception`` (the traceback as one escaped string), never as a
raw multi-line traceback. Their debug records are shown only from our own
packages and aiohttp (see ``VERBOSE_SOURCES``).
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
    stamps: list[Any] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
    ]
    rendering: list[Any] = [
        _error_field,
        structlog.processors.format_exc_info,
        structlog.processors.EventRenamer("msg"),
        renderer,
    ]
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, *stamps, *rendering],
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(file=stream or sys.stderr),
        cache_logger_on_first_use=False,
    )
    _route_standard_logging(
        level=LEVELS[level],
        stream=stream or sys.stderr,
        formatter=structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.contextvars.merge_contextvars,
                *stamps,
                structlog.stdlib.add_logger_name,
                structlog.stdlib.ExtraAdder(),
            ],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *rendering],
        ),
    )


_HANDLER_NAME = "headwater"
VERBOSE_SOURCES = ("shared", "controllers", "aiohttp")
"""Standard-library loggers whose debug records are shown at ``--log-level debug``."""


def _route_standard_logging(*, level: int, stream: TextIO, formatter: logging.Formatter) -> None:
    """Send standard-library log records at ``level`` or above to ``stream``, formatted.

    Below info only from ``VERBOSE_SOURCES``. Replaces the handler an earlier
    ``configure`` installed; leaves others alone.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)
    root.addHandler(handler)
    # NB: other libraries log below info what must not reach logs
    # (kubernetes-asyncio: every response body, Secrets included).
    root.setLevel(max(level, logging.INFO))
    for name in VERBOSE_SOURCES:
        logging.getLogger(name).setLevel(level)


def _error_field(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Render an ``error=<exception>`` value as its message, as Flux logs errors.

    A line logged with ``exc_info`` and no ``error`` gets its exception's message.
    """
    error = event.get("error")
    if error is None:
        error = _exception_of(event.get("exc_info"))
    if isinstance(error, BaseException):
        event["error"] = str(error) or type(error).__name__
    return event


def _exception_of(exc_info: Any) -> BaseException | None:
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple):
        return exc_info[1] if isinstance(exc_info[1], BaseException) else None
    return sys.exc_info()[1] if exc_info is True else None


def get_logger(**initial: Any) -> Any:
    """A logger carrying ``initial`` key-values (plus whatever is bound in context)."""
    return structlog.get_logger(**initial)


@contextlib.contextmanager
def bound(**values: Any) -> Iterator[None]:
    """Bind ``values`` to every line logged in this context (task-local), then restore."""
    with structlog.contextvars.bound_contextvars(**values):
        yield
