"""Terminal conventions of every verb: messages, tables, colour and progress.

Messages go to stderr in Flux's shapes (``► doing``, ``✔ done``, ``◎
waiting``, ``✗ failed``) so stdout carries only data (tables, YAML, JSON)
that scripts can read. Colour is used only when the stream is a terminal and
``NO_COLOR`` is unset; a spinner naming what is awaited replaces the plain
``◎`` line only on a terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import sys
from collections.abc import AsyncIterator, Sequence
from typing import TextIO

_GREEN, _RED, _YELLOW, _RESET = "\033[32m", "\033[31m", "\033[33m", "\033[0m"


def colour(stream: TextIO) -> bool:
    """Whether to colour ``stream``: a terminal, and ``NO_COLOR`` not set."""
    return stream.isatty() and "NO_COLOR" not in os.environ


def _say(symbol: str, message: str, code: str) -> None:
    if colour(sys.stderr):
        symbol = f"{code}{symbol}{_RESET}"
    print(f"{symbol} {message}", file=sys.stderr, flush=True)


def generating(message: str) -> None:
    _say("✚", message, "")


def action(message: str) -> None:
    _say("►", message, "")


def success(message: str) -> None:
    _say("✔", message, _GREEN)


def waiting(message: str) -> None:
    _say("◎", message, _YELLOW)


def failure(message: str) -> None:
    _say("✗", message, _RED)


@contextlib.asynccontextmanager
async def progress(message: str) -> AsyncIterator[None]:
    """``◎ message`` while the block runs: a spinner on a terminal, one line otherwise."""
    if not sys.stderr.isatty():
        waiting(message)
        yield
        return

    async def spin() -> None:
        for frame in itertools.cycle("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"):
            sys.stderr.write(f"\r{frame} {message}")
            sys.stderr.flush()
            await asyncio.sleep(0.1)

    spinner = asyncio.create_task(spin())
    try:
        yield
    finally:
        spinner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await spinner
        sys.stderr.write("\r\033[K")
        waiting(message)


def table(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, out: TextIO | None = None
) -> None:
    """Columns as kubectl prints them: upper-case headers, left-aligned, 3 spaces apart."""
    stream = out or sys.stdout
    widths = [len(h) for h in header]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    for row in [header, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        print("\t".join(cells).replace("\t", "   ").rstrip(), file=stream)
    stream.flush()
