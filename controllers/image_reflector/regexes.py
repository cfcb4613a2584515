"""Go-compatible regular expressions (RE2) for tag filters and exclusion lists, pure.

Contract: ``compile(pattern)`` returns a ``Regex`` or raises ``re2.error``
(callers name the pattern in their own error); ``Regex.search(text)``
returns the texts of the first match's groups (index 0 the whole match,
None for a group that did not take part), or None when nothing matches.
Syntax and semantics are RE2's, which Go's ``regexp`` shares: named groups
as ``(?P<name>…)``, no backreferences, matching in time linear in the text,
so a hostile pattern cannot stall a controller.

NB: ``search`` calls the compiled program of PyPI ``google-re2`` directly
instead of the binding's ``re``-like ``search``. The latter builds a
generator, offset tables and a match object per call, about 6 µs; the
program's own ``Match`` is about 1 µs, and a filter over 10,000 tags runs
one search per tag. ``tests/image_reflector/test_regexes.py`` checks the
results against the binding's public API, so a binding that changes its
internals fails there rather than in a controller.
"""

from __future__ import annotations

from collections.abc import Mapping

import re2
from re2 import _re2

error = re2.error
_UNANCHORED = _re2.RE2.Anchor.UNANCHORED


class Regex:
    """A compiled RE2 pattern (see the module docstring)."""

    __slots__ = ("_program", "groupindex", "groups", "pattern")

    def __init__(self, compiled: re2._Regexp) -> None:
        self.pattern: str = compiled.pattern
        self.groups: int = compiled.groups
        self.groupindex: Mapping[str, int] = compiled.groupindex
        self._program = compiled._regexp

    def search(self, text: str) -> list[str | None] | None:
        """The groups' texts of the leftmost match anywhere in ``text``, or None."""
        encoded = text.encode()
        spans = self._program.Match(_UNANCHORED, encoded, 0, len(encoded))
        if spans[0][0] < 0:
            return None
        # RE2 matches whole UTF-8 sequences, so a span never splits a character;
        # for ASCII text (every OCI tag) byte offsets are character offsets.
        if len(encoded) == len(text):
            return [None if start < 0 else text[start:end] for start, end in spans]
        return [None if start < 0 else encoded[start:end].decode() for start, end in spans]


def compile(pattern: str) -> Regex:
    """``pattern`` compiled as RE2; ``re2.error`` when RE2 refuses it."""
    return Regex(re2.compile(pattern))
