"""Reading a spooled pack file with memory that does not grow with its blobs.

Contract: ``scan(path)`` reads the pack at ``path`` once, front to back, and
returns one ``Entry`` per object: where it starts, its pack type, its delta
base and, for a whole (non-delta) blob, its object id and its content — a
dulwich ``Blob`` for one of at most ``INLINE_LIMIT`` bytes (inflated once,
here), else a ``PackedBlob`` that inflates it again later. Inflating happens
in pieces of at most ``_OUT_CHUNK`` bytes, so scanning a pack holding a
500 MB blob costs a few MiB. ``PackedBlob.chunks`` streams a blob's content
from the pack while the work tree is written; ``PackedBlob.read`` returns a
small one whole (``.gitmodules``, a symlink's target) and refuses one over
its ``limit``.

Malformed packs (bad signature, truncated entry, an entry inflating to a size
other than its header says, trailing garbage) raise ``PackFormatError``.

Why: dulwich inflates every object whole, twice (once to find where it ends,
once to resolve it), so a large file in a repository cost the controller
twice its size in memory. What cannot be streamed stays with dulwich
(``packs``): commits, trees, tags, deltas and the whole objects deltas are
based on. A file above git's ``core.bigFileThreshold`` (512 MiB) is never
stored as a delta, and a depth-1 fetch rarely deltifies large files at all.
"""

from __future__ import annotations

import dataclasses
import hashlib
import pathlib
import zlib
from collections.abc import Callable, Iterator
from typing import BinaryIO, Final

import dulwich.objects

from controllers.source.git import errors

OFS_DELTA: Final = 6
REF_DELTA: Final = 7
BLOB: Final = 3
_TYPES: Final = frozenset({1, 2, 3, 4, OFS_DELTA, REF_DELTA})
_SIGNATURE: Final = b"PACK"
_ID_LENGTH: Final = 20
_READ_SIZE: Final = 1 << 20
_IN_CHUNK: Final = 1 << 16
_OUT_CHUNK: Final = 1 << 20
INLINE_LIMIT: Final = 64 * 1024
"""Blobs up to this size are kept inflated: re-reading each small file from
the pack would cost an open and a second inflate per file."""
_ZLIB_SLACK: Final = 64
"""Input fed beyond an entry's size on the first try: zlib's framing fits in it."""


class PackFormatError(errors.GitOperationError):
    """The pack file is not a well-formed version 2 or 3 pack."""


@dataclasses.dataclass(frozen=True)
class PackedBlob:
    """A blob's content, left deflated in the pack file at ``pack``.

    Its zlib stream is the ``deflated`` bytes from ``offset``; ``size`` is
    the inflated length. The pack file must exist while the blob is read.
    """

    pack: pathlib.Path
    offset: int
    deflated: int
    size: int

    def chunks(self) -> Iterator[bytes]:
        """The content in order, in pieces of at most 1 MiB; PackFormatError if corrupt."""
        inflater = _Inflater(self.size)
        with open(self.pack, "rb", buffering=0) as stream:
            stream.seek(self.offset)
            remaining = self.deflated
            while remaining:
                data = stream.read(min(remaining, _READ_SIZE))
                if not data:
                    raise PackFormatError(f"{self.pack.name} ends inside a blob at {self.offset}")
                remaining -= len(data)
                yield from inflater.inflate(data)
        inflater.check_complete(at=self.offset, exact=True)

    def read(self, *, limit: int) -> bytes:
        """The whole content; ValueError when it is larger than ``limit`` bytes."""
        if self.size > limit:
            raise ValueError(f"{self.size} bytes, over the {limit}-byte limit")
        return b"".join(self.chunks())


@dataclasses.dataclass(frozen=True)
class Entry:
    """One object of the pack, as its header describes it."""

    offset: int
    """Where the entry (its header) starts in the pack."""
    type_num: int
    delta_base: int | bytes | None
    """For OFS_DELTA the distance back to the base's offset, for REF_DELTA the
    base's raw id, None otherwise (dulwich's ``UnpackedObject.delta_base``)."""
    blob: PackedBlob | dulwich.objects.Blob | None
    """Set for a whole blob: its content, or where it can be inflated from."""
    blob_id: dulwich.objects.ObjectID | None
    """The hex object id of a whole blob, None for every other entry."""


def scan(path: pathlib.Path) -> list[Entry]:
    """Every entry of the pack at ``path``, in pack order (see the module doc)."""
    with open(path, "rb", buffering=0) as stream:
        source = _Source(stream, offset=0)
        header = source.take(12)
        if header[:4] != _SIGNATURE or int.from_bytes(header[4:8], "big") not in (2, 3):
            raise PackFormatError(f"{path.name} is not a version 2 or 3 pack")
        count = int.from_bytes(header[8:12], "big")
        entries = [_scan_entry(source, path) for _ in range(count)]
        trailer = source.take_rest(_ID_LENGTH + 1)
        if len(trailer) != _ID_LENGTH:
            raise PackFormatError(
                f"{path.name} has {len(trailer)} bytes after its last object; expected "
                f"a {_ID_LENGTH}-byte checksum"
            )
    return entries


def _scan_entry(source: _Source, path: pathlib.Path) -> Entry:
    offset = source.offset
    byte = source.take(1)[0]
    type_num = (byte >> 4) & 0x07
    size = byte & 0x0F
    shift = 4
    while byte & 0x80:
        byte = source.take(1)[0]
        size |= (byte & 0x7F) << shift
        shift += 7
    if type_num not in _TYPES:
        raise PackFormatError(f"entry at offset {offset} has unknown type {type_num}")
    delta_base: int | bytes | None = None
    if type_num == OFS_DELTA:
        byte = source.take(1)[0]
        distance = byte & 0x7F
        while byte & 0x80:
            byte = source.take(1)[0]
            distance = ((distance + 1) << 7) | (byte & 0x7F)
        if not 0 < distance <= offset:
            raise PackFormatError(f"delta at offset {offset} points outside the pack")
        delta_base = distance
    elif type_num == REF_DELTA:
        delta_base = source.take(_ID_LENGTH)
    data_offset = source.offset
    if type_num != BLOB:
        _inflate_entry(source, size, sink=None)
        return Entry(
            offset=offset, type_num=type_num, delta_base=delta_base, blob=None, blob_id=None
        )
    hasher = hashlib.sha1(b"blob %d\0" % size, usedforsecurity=False)
    chunks: list[bytes] = []

    def sink(piece: bytes) -> None:
        hasher.update(piece)
        if size <= INLINE_LIMIT:
            chunks.append(piece)

    _inflate_entry(source, size, sink=sink)
    blob_id = dulwich.objects.ObjectID(hasher.hexdigest().encode("ascii"))
    blob: PackedBlob | dulwich.objects.Blob
    if size <= INLINE_LIMIT:
        blob = dulwich.objects.Blob()
        blob.set_raw_chunks(chunks, blob_id)
    else:
        blob = PackedBlob(
            pack=path, offset=data_offset, deflated=source.offset - data_offset, size=size
        )
    return Entry(offset=offset, type_num=type_num, delta_base=None, blob=blob, blob_id=blob_id)


def _inflate_entry(source: _Source, size: int, *, sink: Callable[[bytes], object] | None) -> None:
    """Inflate the zlib stream at the source's position, leaving it just after the stream."""
    at = source.offset
    inflater = _Inflater(size)
    # The first try feeds little more than the entry's size, so a small
    # entry never copies a large remainder back (zlib's unused_data).
    limit = min(_IN_CHUNK, size + _ZLIB_SLACK)
    while not inflater.eof:
        for out in inflater.inflate(source.take_some(limit)):
            if sink is not None:
                sink(out)
        limit = _IN_CHUNK
    source.give_back(inflater.unused)
    inflater.check_complete(at=at, exact=False)


class _Source:
    """Sequential reads of a pack with give-back of what zlib did not consume."""

    def __init__(self, stream: BinaryIO, *, offset: int) -> None:
        self._stream = stream
        self._buffer = b""
        self._at = 0
        self.offset = offset
        """The pack offset of the next byte not yet taken."""

    def _fill(self, want: int) -> None:
        if len(self._buffer) - self._at >= want:
            return
        rest = self._buffer[self._at :]
        self._buffer = rest + self._stream.read(max(_READ_SIZE, want))
        self._at = 0

    def take(self, count: int) -> bytes:
        """Exactly ``count`` bytes; PackFormatError when the file ends first."""
        self._fill(count)
        data = self._buffer[self._at : self._at + count]
        if len(data) < count:
            raise PackFormatError(f"pack ends inside the entry at offset {self.offset}")
        self._at += count
        self.offset += count
        return data

    def take_some(self, limit: int) -> memoryview:
        """Between 1 and ``limit`` bytes; PackFormatError at the end of the file."""
        self._fill(1)
        end = min(len(self._buffer), self._at + limit)
        if end == self._at:
            raise PackFormatError(f"pack ends inside the entry at offset {self.offset}")
        view = memoryview(self._buffer)[self._at : end]
        self._at = end
        self.offset += len(view)
        return view

    def give_back(self, count: int) -> None:
        """Un-take the last ``count`` bytes of the last ``take_some``."""
        self._at -= count
        self.offset -= count

    def take_rest(self, limit: int) -> bytes:
        """Up to ``limit`` remaining bytes (fewer at the end of the file)."""
        self._fill(limit)
        data = self._buffer[self._at : self._at + limit]
        self._at += len(data)
        self.offset += len(data)
        return data


class _Inflater:
    """Inflates one zlib stream that must yield exactly ``size`` bytes, in bounded pieces."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._produced = 0
        self._zlib = zlib.decompressobj()

    @property
    def eof(self) -> bool:
        return self._zlib.eof

    @property
    def unused(self) -> int:
        """How many bytes of the last input came after the end of the stream."""
        return len(self._zlib.unused_data)

    def inflate(self, data: bytes | memoryview) -> Iterator[bytes]:
        """The output of ``data``, at most 1 MiB at a time."""
        try:
            while not self._zlib.eof:
                out = self._zlib.decompress(data, _OUT_CHUNK)
                self._produced += len(out)
                if self._produced > self._size:
                    raise PackFormatError(f"an entry inflates to more than its {self._size} bytes")
                if out:
                    yield out
                data = self._zlib.unconsumed_tail
                # NB: a full output piece may leave output pending inside zlib
                # even when all input was taken; ask again until it is drained.
                if not data and len(out) < _OUT_CHUNK:
                    break
        except zlib.error as exc:
            raise PackFormatError(f"corrupt zlib stream in an entry: {exc}") from exc

    def check_complete(self, *, at: int, exact: bool) -> None:
        """Raise unless the stream ended with ``size`` bytes (and if ``exact``, no input after)."""
        if not self._zlib.eof or (exact and self.unused):
            raise PackFormatError(f"the zlib stream at offset {at} does not end where expected")
        if self._produced != self._size:
            raise PackFormatError(
                f"the entry at offset {at} inflates to {self._produced} bytes, "
                f"not the {self._size} its header says"
            )
