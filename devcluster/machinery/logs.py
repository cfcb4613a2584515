"""Logging of the devcluster's two processes: one line format, on stderr.

The server and its controller-manager child (which inherits the server's
stderr) each call ``configure`` once at start-up, so their interleaved lines
read as one log: ``<time> <LEVEL> <logger> <message>`` from stdlib logging.
The controllers log through structlog (an event name plus key-values); here
structlog renders into stdlib logging, so those lines have the same shape and
the same level threshold (INFO: the controllers' debug chatter is dropped).
"""

from __future__ import annotations

import logging

import structlog

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure(*, level: int = logging.INFO) -> None:
    """Configure stdlib logging and structlog for this process (call once, at start-up)."""
    logging.basicConfig(level=level, format=FORMAT)
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.dev.ConsoleRenderer(
                colors=False, pad_event_to=0, exception_formatter=structlog.dev.plain_traceback
            ),
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
