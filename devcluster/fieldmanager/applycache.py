"""What the cluster remembers between server-side applies, to answer the next one cheaply.

- ``Records``: per (object, manager, subresource, force, fieldValidation) the
  last configuration applied and the resourceVersion it left. The same
  configuration applied again to that version is answered with the stored
  object (apply is a pure function of both); a configuration of the same
  shape may take ``reapply``'s fast path.
- ``DecodedEntries``: decoded managedFields by the identity of the stored
  list, so each stored version is decoded at most once. Stored objects are
  never changed in place (the cluster's rule for everything it stores), so a
  list that is still the same object still holds the same entries; the cache
  keeps a reference to every list it knows, so an id is never reused while
  cached.

Both are bounded (least recently used go first) and owned by one ``Cluster``.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any

from devcluster.structuredmerge import fieldpaths, managedfields

Key = tuple[Any, ...]
SIZE = 4096


@dataclasses.dataclass
class Record:
    """The last successful apply of one manager to one object."""

    version: str  # resourceVersion of the object that apply left stored
    schema_generation: int  # the registry's generation then (CRD schemas)
    config: dict[str, Any]  # the configuration applied (never changed afterwards)
    applied: frozenset[fieldpaths.Path]  # its field set, as ``fieldmanager.Applied.applied``
    raw: bytes | None  # the request body it came from, when known
    # Whether re-applying ``config`` to that version is a no-op (``reapply.round_trips``):
    # None until checked; known true after a fast-path apply that stored its result as is.
    round_trips: bool | None = None
    # Same-shaped applies for which ``round_trips`` failed in a row: the check is
    # then retried only now and then (a configuration that never round-trips,
    # e.g. with a null the decoder drops, would otherwise pay for it every time).
    misses: int = 0

    def should_check(self) -> bool:
        """Whether to run the round-trip check (not yet known; backing off after misses)."""
        return self.round_trips is None and (self.misses == 0 or self.misses % 16 == 0)


class Records:
    """The last apply per memo key, bounded."""

    def __init__(self, *, size: int = SIZE) -> None:
        self._size = size
        self._records: collections.OrderedDict[Key, Record] = collections.OrderedDict()

    def get(self, key: Key) -> Record | None:
        return self._records.get(key)

    def put(self, key: Key, record: Record) -> None:
        self._records[key] = record
        self._records.move_to_end(key)
        while len(self._records) > self._size:
            self._records.popitem(last=False)


class DecodedEntries:
    """Decoded managedFields by the identity of the stored list, bounded."""

    def __init__(self, *, size: int = SIZE) -> None:
        self._size = size
        self._entries: collections.OrderedDict[int, tuple[list[Any], list[managedfields.Entry]]] = (
            collections.OrderedDict()
        )

    def of(self, obj: dict[str, Any]) -> list[managedfields.Entry]:
        """``managedfields.decode_lenient(obj)``, decoded once per stored list."""
        meta = obj.get("metadata")
        raw = meta.get("managedFields") if isinstance(meta, dict) else None
        if not isinstance(raw, list) or not raw:
            return managedfields.decode_lenient(obj)
        found = self._entries.get(id(raw))
        if found is not None and found[0] is raw:
            self._entries.move_to_end(id(raw))
            return found[1]
        entries = managedfields.decode_lenient(obj)
        self.remember(obj, entries)
        return entries

    def remember(self, obj: dict[str, Any], entries: list[managedfields.Entry]) -> None:
        """Note that ``obj``'s managedFields list decodes to ``entries``."""
        meta = obj.get("metadata")
        raw = meta.get("managedFields") if isinstance(meta, dict) else None
        if not isinstance(raw, list) or not raw:
            return
        self._entries[id(raw)] = (raw, entries)
        self._entries.move_to_end(id(raw))
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)
