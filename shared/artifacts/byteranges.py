"""``Range`` request headers on a file of known size (RFC 9110 section 14), without I/O.

``select(value, size)`` says which bytes of a ``size``-byte file a ``Range``
header value asks for:

- ``None``: the whole file (a 200). That is the answer for a unit other than
  ``bytes`` and for a value that does not parse, which a server may ignore;
- a ``ByteRange``: one satisfiable range (a 206 with ``Content-Range``), an
  end past the file clipped to its last byte;
- ``RangeNotSatisfiableError`` raised: a 416 with ``Content-Range: bytes
  */size``. That is the answer for a range starting at or past the end, a
  zero-length suffix, and for several ranges: this server does not write
  ``multipart/byteranges`` bodies (artifact clients ask for the whole file
  or for one range, to resume a download).
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


def select(value: str, size: int) -> ByteRange | None:
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
    if len(bounds) > 1:
        raise RangeNotSatisfiableError(f"{len(bounds)} ranges requested; only one is served")
    first, last = bounds[0]
    if not first:  # a suffix: the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiableError("empty suffix range")
        return ByteRange(max(size - suffix, 0), size)
    start = int(first)
    if start >= size:
        raise RangeNotSatisfiableError(f"range starts at {start}, past the end of {size} bytes")
    stop = size if not last else min(int(last) + 1, size)
    return ByteRange(start, stop)
