"""Deterministic tar.gz archives of a directory tree.

Contract: the same tree (names, contents and executable bits of regular
files, names of directories) always gives byte-identical archives, so equal
trees have equal digests regardless of the machine, clock, owner or umask:

- entries are visited depth first with each directory's names sorted, a
  directory's entry directly before its contents; the root itself has no entry;
- names are relative POSIX paths (directories without a trailing slash);
- modification times are 0, owners are uid/gid 0 with empty names;
- modes are normalised as Flux does: directories 0750, executable files
  0700, other files 0600;
- symlinks, sockets, FIFOs and devices are skipped (Flux skips them too), so
  an archive never points outside its own tree;
- the gzip header has no file name and mtime 0; compression level 6 (zlib's
  and Go's default).

``max_size`` bounds the total size of the files archived (their content,
before compression: what a consumer extracts). Past it, the walk goes on
only to stat the remaining files, so the ArchiveLimitError names the whole
size and the limit; nothing more is read.

The ``exclude`` filter receives each relative path and whether it is a
directory; an excluded directory is not descended into. ``write_archive`` is
synchronous and CPU-bound: async callers run it in a thread
(``storage.Storage.archive`` does).
"""

from __future__ import annotations

import dataclasses
import os
import queue
import stat
import threading
import types
import zlib
from collections.abc import Callable, Iterator
from typing import IO, Final, Protocol, Self

from shared.artifacts import digests, errors

DIR_MODE: Final = 0o750
FILE_MODE: Final = 0o600
EXECUTABLE_MODE: Final = 0o700
COMPRESS_LEVEL: Final = 6
_COPY_BUFFER: Final = 1 << 20

PathFilter = Callable[[str, bool], bool]
"""``(relative_posix_path, is_dir) -> excluded``; ``ignoring.Matcher`` is one."""


@dataclasses.dataclass(frozen=True)
class ArchiveResult:
    """What was written: the archive's digest and size, and how many entries."""

    digest: str
    size: int
    files: int
    directories: int


class _Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...


@dataclasses.dataclass(frozen=True)
class _Entry:
    relative: str
    absolute: str
    is_dir: bool
    size: int
    executable: bool


def write_archive(
    source: str | os.PathLike[str],
    target: IO[bytes],
    *,
    exclude: PathFilter | None = None,
    max_size: int | None = None,
) -> ArchiveResult:
    """Write the tar.gz of ``source`` to ``target`` (which stays open) and digest it.

    Raises ArchiveError when ``source`` is not a directory or a file cannot be
    read or changes size while being archived, ArchiveLimitError when its
    files total more than ``max_size`` bytes.
    """
    root = os.fspath(source)
    if not os.path.isdir(root):
        raise errors.ArchiveError(f"cannot archive {root}: not a directory")
    digester = digests.DigestingWriter(target)
    files = directories = 0
    try:
        with _GzipPipe(digester) as compressed:
            writer = _TarWriter(compressed)
            entries = _walk(root, exclude)
            content = 0
            for entry in entries:
                content += entry.size
                if max_size is not None and content > max_size:
                    content += sum(rest.size for rest in entries)
                    raise errors.ArchiveLimitError(
                        f"the files to archive total {content} bytes, over the maximum "
                        f"artifact size of {max_size} bytes"
                    )
                if entry.is_dir:
                    writer.add_directory(entry.relative)
                    directories += 1
                else:
                    writer.add_file(entry)
                    files += 1
            writer.close()
    except OSError as exc:
        raise errors.ArchiveError(f"archiving {root}: {exc}") from exc
    return ArchiveResult(
        digest=digester.digest, size=digester.size, files=files, directories=directories
    )


def _walk(root: str, exclude: PathFilter | None) -> Iterator[_Entry]:
    # NB: iterative, so a hostile tree nested thousands of levels deep cannot
    # exhaust Python's recursion limit. Each stack frame is a directory's
    # remaining sorted entries; a directory's entries follow it directly.
    stack: list[tuple[str, Iterator[os.DirEntry[str]]]] = [("", _sorted_entries(root))]
    while stack:
        prefix, entries = stack[-1]
        item = next(entries, None)
        if item is None:
            stack.pop()
            continue
        relative = f"{prefix}/{item.name}" if prefix else item.name
        info = item.stat(follow_symlinks=False)
        is_dir = stat.S_ISDIR(info.st_mode)
        if not is_dir and not stat.S_ISREG(info.st_mode):
            continue
        if exclude is not None and exclude(relative, is_dir):
            continue
        yield _Entry(
            relative=relative,
            absolute=item.path,
            is_dir=is_dir,
            size=0 if is_dir else info.st_size,
            executable=bool(info.st_mode & 0o111),
        )
        if is_dir:
            stack.append((relative, _sorted_entries(item.path)))


def _sorted_entries(directory: str) -> Iterator[os.DirEntry[str]]:
    with os.scandir(directory) as listing:
        return iter(sorted(listing, key=lambda entry: entry.name))


class _GzipPipe:
    """Gzip-compresses chunks on a worker thread while the caller builds the tar.

    NB: zlib and hashlib release the GIL on large buffers, so walking the tree
    and compressing overlap the way ``tar | gzip`` does; this halves the wall
    time of archiving many small files. The gzip header is fixed (no name,
    mtime 0, OS "unknown") so the output is deterministic. At most a few
    chunks are queued, which bounds memory.
    """

    _HEADER: Final = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"

    def __init__(self, target: digests.DigestingWriter) -> None:
        self._target = target
        self._chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
        self._failure: BaseException | None = None
        self._worker = threading.Thread(target=self._compress, name="archive-gzip", daemon=True)

    def __enter__(self) -> Self:
        self._worker.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: types.TracebackType | None,
    ) -> None:
        self._chunks.put(None)
        self._worker.join()
        if self._failure is not None and exc is None:
            raise self._failure

    def write(self, data: bytes) -> int:
        if self._failure is not None:
            raise self._failure
        self._chunks.put(data)
        return len(data)

    def _compress(self) -> None:
        compressor = zlib.compressobj(COMPRESS_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
        crc = 0
        length = 0
        failed = False
        while (chunk := self._chunks.get()) is not None:
            if failed:
                continue  # drain so the producer never blocks on a full queue
            try:
                if length == 0:
                    self._target.write(self._HEADER)
                crc = zlib.crc32(chunk, crc)
                length += len(chunk)
                self._target.write(compressor.compress(chunk))
            except BaseException as exc:  # handed to the producer thread
                self._failure = exc
                failed = True
        if failed:
            return
        try:
            if length == 0:
                self._target.write(self._HEADER)
            self._target.write(compressor.flush())
            self._target.write(
                crc.to_bytes(4, "little") + (length & 0xFFFFFFFF).to_bytes(4, "little")
            )
        except BaseException as exc:
            self._failure = exc


class _TarWriter:
    """A minimal POSIX (pax) tar writer for directories and regular files.

    NB: written by hand rather than with ``tarfile`` because tarfile's
    per-member overhead (header copies, pax probing) doubled the archiving
    time of a 5,000-file tree. Headers are ustar; a pax extended header is
    added only for a name that does not fit ustar's name/prefix fields or a
    file of 8 GiB or more. Output is buffered into large writes.
    """

    def __init__(self, target: _Sink) -> None:
        self._target = target
        self._buffer = bytearray()
        self._written = 0

    def add_directory(self, name: str) -> None:
        self._header(name, size=0, mode=DIR_MODE, typeflag=b"5")

    def add_file(self, entry: _Entry) -> None:
        mode = EXECUTABLE_MODE if entry.executable else FILE_MODE
        self._header(entry.relative, size=entry.size, mode=mode, typeflag=b"0")
        # NB: raw descriptors: a buffered file object per small file costs
        # more than reading it.
        descriptor = os.open(entry.absolute, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        try:
            remaining = entry.size
            while remaining > 0:
                chunk = os.read(descriptor, min(remaining, _COPY_BUFFER))
                if not chunk:
                    raise OSError(f"{entry.relative} shrank while being archived")
                self._buffer += chunk
                remaining -= len(chunk)
                if len(self._buffer) >= _COPY_BUFFER:
                    self._flush()
            if os.read(descriptor, 1):
                raise OSError(f"{entry.relative} grew while being archived")
        finally:
            os.close(descriptor)
        self._pad(entry.size)

    def close(self) -> None:
        # Two zero blocks end the archive; pad to tar's 10 KiB record size.
        self._buffer += bytes(2 * _BLOCK)
        self._buffer += bytes(-(self._written + len(self._buffer)) % _RECORD)
        self._flush()

    def _flush(self) -> None:
        self._target.write(bytes(self._buffer))
        self._written += len(self._buffer)
        self._buffer.clear()

    def _pad(self, size: int) -> None:
        self._buffer += bytes(-size % _BLOCK)

    def _header(self, name: str, *, size: int, mode: int, typeflag: bytes) -> None:
        encoded = name.encode("utf-8", errors="surrogateescape")
        split = _split_ustar_name(encoded)
        pax: dict[str, str] = {}
        if split is None:
            pax["path"] = name
            split = (b"", encoded[-_NAME_FIELD:])
        if size >= _MAX_OCTAL_SIZE:
            pax["size"] = str(size)
        if pax:
            body = b"".join(_pax_record(key, value) for key, value in sorted(pax.items()))
            self._buffer += _ustar_header(
                prefix=b"", name=b"PaxHeader", size=len(body), mode=0o644, typeflag=b"x"
            )
            self._buffer += body
            self._pad(len(body))
        prefix, short = split
        self._buffer += _ustar_header(
            prefix=prefix,
            name=short,
            size=0 if "size" in pax else size,
            mode=mode,
            typeflag=typeflag,
        )


_BLOCK: Final = 512
_RECORD: Final = 20 * _BLOCK
_NAME_FIELD: Final = 100
_PREFIX_FIELD: Final = 155
_MAX_OCTAL_SIZE: Final = 8**11


def _split_ustar_name(name: bytes) -> tuple[bytes, bytes] | None:
    """(prefix, name) fitting ustar's fields, or None when a pax header is needed."""
    if not name.isascii():
        return None
    if len(name) <= _NAME_FIELD:
        return b"", name
    # The prefix ends at a slash that is not stored; the rest must fit the name field.
    cut = name.rfind(b"/", 0, _PREFIX_FIELD + 1)
    while cut > 0:
        if len(name) - cut - 1 <= _NAME_FIELD:
            return name[:cut], name[cut + 1 :]
        cut = name.rfind(b"/", 0, cut)
    return None


def _pax_record(key: str, value: str) -> bytes:
    # Each record is "<length> <key>=<value>\n" where the length counts its own digits.
    payload = f" {key}={value}\n".encode("utf-8", errors="surrogateescape")
    length = len(payload) + 1
    while len(str(length)) + len(payload) != length:
        length = len(str(length)) + len(payload)
    return str(length).encode() + payload


def _octal(value: int, width: int) -> bytes:
    return f"{value:0{width - 1}o}".encode() + b"\0"


# uid, gid (zero), then after size: mtime (zero)
_OWNER_FIELDS: Final = _octal(0, 8) + _octal(0, 8)
_MTIME_FIELD: Final = _octal(0, 12)
_CHECKSUM_PLACEHOLDER: Final = b" " * 8
# linkname (empty), magic and version, uname and gname (empty), devmajor, devminor
_MIDDLE_FIELDS: Final = bytes(100) + b"ustar\x0000" + bytes(64) + _octal(0, 8) + _octal(0, 8)


_CONSTANT_SUM: Final = (
    sum(_OWNER_FIELDS) + sum(_MTIME_FIELD) + sum(_CHECKSUM_PLACEHOLDER) + sum(_MIDDLE_FIELDS)
)


def _ustar_header(*, prefix: bytes, name: bytes, size: int, mode: int, typeflag: bytes) -> bytes:
    mode_field = _octal(mode, 8)
    size_field = _octal(size, 12)
    # The checksum is the byte sum of the header with its own field read as
    # spaces; NUL padding adds nothing, so only the variable fields are summed.
    checksum = (
        _CONSTANT_SUM + sum(name) + sum(prefix) + sum(mode_field) + sum(size_field) + typeflag[0]
    )
    return b"".join(
        (
            name.ljust(_NAME_FIELD, b"\0"),
            mode_field,
            _OWNER_FIELDS,
            size_field,
            _MTIME_FIELD,
            f"{checksum:06o}".encode(),
            b"\0 ",
            typeflag,
            _MIDDLE_FIELDS,
            prefix.ljust(_PREFIX_FIELD, b"\0"),
            _TRAILER_PAD,
        )
    )


_TRAILER_PAD: Final = bytes(12)
