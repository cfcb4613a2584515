"""``Range`` request headers on a file of known size (RFC 9110 section 14), without I/O.

``select(value, size)`` says which bytes of a ``size``-byte file a ``Range``
header value asks for:

- ``None``: the whole file (a 200). That is the answer for a unit other than
  ``bytes`` and for a value that does not parse, which a server may ignore;
- a list of ``ByteRange``: the satisfiable ranges in the order asked, an end
  past the file clipped to its last byte. One range is a 206 with
  ``Content-Range``; several are a 206 ``multipart/byteranges`` body
  (``multipart``). Ranges that start at or past the end are dropped, as Go's
  ``http.ServeContent`` drops them. When the ranges together ask for more
  bytes than the file has, the whole file is the answer (``None``): that
  caps what one request can make the server send;
- ``RangeNotSatisfiableError`` raised: a 416 with ``Content-Range: bytes
  */size``, when no range is satisfiable (all start past the end, or a
  zero-length suffix).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Final

_SPEC: Final = re.compile(r"([0-9]*)-([0-9]*)")


class RangeNotSatisfiableError(Exception):
    """The ``Range`` asks for nothing this server sends: answer 416."""


@dataclasses.dataclass(frozen=True)
class ByteRange:
    """Bytes ``start`` up to (not including) ``stop`` of the file."""

    start: int
    stop: int

    @property
    def length(self) -> int:
        return self.stop - self.start

    def content_range(self, size: int) -> str:
        """The ``Content-Range`` header value of a 206 for this range."""
        return f"bytes {self.start}-{self.stop - 1}/{size}"


def unsatisfied_range(size: int) -> str:
    """The ``Content-Range`` header value of a 416."""
    return f"bytes */{size}"


def select(value: str, size: int) -> list[ByteRange] | None:
    """The range ``value`` selects in ``size`` bytes (see the module docstring)."""
    unit, equals, ranges = value.partition("=")
    if not equals or unit.strip().lower() != "bytes":
        return None
    specs = [spec.strip() for spec in ranges.split(",") if spec.strip()]
    parsed = [_SPEC.fullmatch(spec) for spec in specs]
    if not parsed or any(match is None or match.group(0) == "-" for match in parsed):
        return None
    bounds = [(match.group(1), match.group(2)) for match in parsed if match is not None]
    if any(first and last and int(first) > int(last) for first, last in bounds):
        return None
    chosen = [chosen for first, last in bounds if (chosen := _one(first, last, size)) is not None]
    if not chosen:
        raise RangeNotSatisfiableError(f"no range of {value!r} is within {size} bytes")
    if sum(one.length for one in chosen) > size:
        return None
    return chosen


def _one(first: str, last: str, size: int) -> ByteRange | None:
    """One parsed range spec within ``size`` bytes; ``None`` when it selects nothing."""
    if not first:  # a suffix: the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            return None
        return ByteRange(max(size - suffix, 0), size)
    start = int(first)
    if start >= size:
        return None
    stop = size if not last else min(int(last) + 1, size)
    return ByteRange(start, stop)


@dataclasses.dataclass(frozen=True)
class Part:
    """One part of a ``multipart/byteranges`` body: its header block, then its bytes."""

    header: bytes
    range: ByteRange


@dataclasses.dataclass(frozen=True)
class Multipart:
    """The layout of a ``multipart/byteranges`` body (RFC 9110 section 14.6)."""

    content_type: str
    parts: tuple[Part, ...]
    trailer: bytes

    @property
    def length(self) -> int:
        """The body's exact length, for ``Content-Length``."""
        return sum(len(part.header) + part.range.length for part in self.parts) + len(self.trailer)


def multipart(ranges: list[ByteRange], *, size: int, content_type: str, boundary: str) -> Multipart:
    """The body layout that sends ``ranges`` of a ``size``-byte file, each with its headers."""
    parts = []
    for index, one in enumerate(ranges):
        lead = "\r\n" if index else ""
        header = (
            f"{lead}--{boundary}\r\nContent-Type: {content_type}\r\n"
            f"Content-Range: {one.content_range(size)}\r\n\r\n"
        )
        parts.append(Part(header=header.encode("ascii"), range=one))
    return Multipart(
        content_type=f"multipart/byteranges; boundary={boundary}",
        parts=tuple(parts),
        trailer=f"\r\n--{boundary}--\r\n".encode("ascii"),
    )
