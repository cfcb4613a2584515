"""Safe extraction of tar.gz archives that came from somewhere else.

Contract: ``extract`` either writes only inside ``destination`` or raises;
it refuses (UnsafeArchiveError, naming the member):

- absolute member names and names with a ``..`` component;
- symlinks whose target resolves outside the destination, when created or
  at the end (a later entry cannot turn an accepted link into an escape
  unnoticed);
- hard links to anything but a regular file already extracted (the content
  is copied, no inode is shared);
- character and block devices, FIFOs and unknown member types;
- writing through a path whose existing parent resolves outside.

and it stops with ArchiveLimitError once the file contents exceed
``max_total_size`` bytes, the member count exceeds ``max_files``, or the
decompressed stream (headers included) grows past what those limits allow,
so a gzip bomb or a huge pax header costs bounded time and memory.

Extracted files get mode 0644 (0755 when any executable bit was set) and
directories 0755; owners and times from the archive are ignored. On error,
whatever was written stays: callers extract into a temporary directory they
delete (``fetching.fetched`` does). Synchronous: run it in a thread.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import pathlib
import stat
import tarfile
import zlib
from typing import IO, Final, Protocol

from shared.artifacts import errors

DEFAULT_MAX_TOTAL_SIZE: Final = 100 * 1024 * 1024
"""Like Flux's tar package default (100 MiB of file content)."""
DEFAULT_MAX_FILES: Final = 50_000
_HEADER_ALLOWANCE: Final = 1536
"""Decompressed bytes allowed per member beyond its content (headers, padding)."""
_COPY_CHUNK: Final = 1 << 20
_GZIP_FRAMING: Final = 1024


@dataclasses.dataclass(frozen=True)
class Limits:
    """Upper bounds for one extraction."""

    max_total_size: int = DEFAULT_MAX_TOTAL_SIZE
    max_files: int = DEFAULT_MAX_FILES

    @property
    def max_stream_size(self) -> int:
        """The decompressed tar stream's bound: content plus headers and padding per entry."""
        return self.max_total_size + _HEADER_ALLOWANCE * (self.max_files + 8)

    @property
    def max_download_size(self) -> int:
        """The compressed archive's bound: the stream plus gzip's worst-case growth."""
        return self.max_stream_size + self.max_stream_size // 1000 + _GZIP_FRAMING


@dataclasses.dataclass(frozen=True)
class ExtractResult:
    """Counts of what was written."""

    files: int
    directories: int
    symlinks: int
    total_size: int


def extract(
    archive: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    *,
    limits: Limits | None = None,
) -> ExtractResult:
    """Extract the tar.gz at ``archive`` into ``destination`` (created; must be empty)."""
    limits = limits or Limits()
    target = pathlib.Path(destination)
    try:
        target.mkdir(parents=True, exist_ok=True)
        if any(target.iterdir()):
            raise errors.ArchiveError(f"extraction target {target} is not empty")
        with open(archive, "rb") as raw, gzip.GzipFile(fileobj=raw, mode="rb") as decompressed:
            bounded = _BoundedReader(decompressed, budget=limits.max_stream_size, limits=limits)
            with tarfile.open(fileobj=bounded, mode="r|", encoding="utf-8") as members:  # type: ignore[call-overload]
                return _Extractor(pathlib.Path(os.path.realpath(target)), limits).run(members)
    except (tarfile.TarError, zlib.error, EOFError, gzip.BadGzipFile) as exc:
        raise errors.ArchiveError(f"reading archive {os.fspath(archive)}: {exc}") from exc
    except OSError as exc:
        raise errors.ArchiveError(f"extracting {os.fspath(archive)}: {exc}") from exc


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


class _BoundedReader:
    """Raises ArchiveLimitError once more than ``budget`` bytes were decompressed."""

    def __init__(self, stream: _Readable, *, budget: int, limits: Limits) -> None:
        self._stream = stream
        self._budget = budget
        self._limits = limits
        self._read = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._read += len(data)
        if self._read > self._budget:
            raise errors.ArchiveLimitError(
                f"archive decompresses to more than {self._budget} bytes "
                f"(limits: {self._limits.max_total_size} bytes of content, "
                f"{self._limits.max_files} entries)"
            )
        return data


class _Extractor:
    def __init__(self, root: pathlib.Path, limits: Limits) -> None:
        self._root = root
        self._limits = limits
        self._entries = 0
        self._files = 0
        self._directories = 0
        self._symlinks: list[tuple[str, pathlib.Path]] = []
        self._total = 0
        # Parent directories already proven to be real directories inside the
        # root with no symlink on the way. Such a path keeps that property:
        # replacing a directory is refused, so no later entry can turn one
        # into a link. Skipping their checks saves a realpath per member.
        self._plain_directories: set[str] = {""}

    def run(self, members: tarfile.TarFile) -> ExtractResult:
        for member in members:
            self._entries += 1
            if self._entries > self._limits.max_files:
                raise errors.ArchiveLimitError(
                    f"archive has more than {self._limits.max_files} entries"
                )
            relative = _normalise(member.name)
            if relative is None:
                if member.isdir():
                    continue  # the archive's own root ("./")
                raise errors.UnsafeArchiveError(member=member.name, reason="empty name")
            if member.ischr() or member.isblk():
                raise errors.UnsafeArchiveError(member=member.name, reason="device file")
            if member.isfifo():
                raise errors.UnsafeArchiveError(member=member.name, reason="FIFO")
            if member.isdir():
                self._directory(member, relative)
            elif member.isreg():
                stream = members.extractfile(member)
                if stream is None:  # pragma: no cover - tarfile gives a stream for every file
                    raise errors.ArchiveError(f"cannot read member {member.name!r}")
                self._file(member, relative, stream)
            elif member.issym():
                self._symlink(member, relative)
            elif member.islnk():
                self._hardlink(member, relative)
            else:
                raise errors.UnsafeArchiveError(
                    member=member.name, reason=f"unsupported member type {member.type!r}"
                )
        self._verify_symlinks()
        return ExtractResult(
            files=self._files,
            directories=self._directories,
            symlinks=len(self._symlinks),
            total_size=self._total,
        )

    def _directory(self, member: tarfile.TarInfo, relative: str) -> None:
        path = self._prepare_parent(member, relative)
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            os.mkdir(path, 0o755)
            self._directories += 1
            return
        if not stat.S_ISDIR(info.st_mode):
            raise errors.UnsafeArchiveError(
                member=member.name, reason="directory replaces an existing non-directory entry"
            )

    def _file(self, member: tarfile.TarInfo, relative: str, stream: IO[bytes]) -> None:
        self._reserve(member, member.size)
        path = self._prepare_parent(member, relative)
        self._clear(member, path)
        mode = 0o755 if member.mode & 0o111 else 0o644
        self._copy(member, stream, path, size=member.size, mode=mode)
        self._files += 1

    def _hardlink(self, member: tarfile.TarInfo, relative: str) -> None:
        source_relative = _normalise(member.linkname)
        if source_relative is None:
            raise errors.UnsafeArchiveError(member=member.name, reason="hard link without target")
        source = pathlib.Path(os.path.realpath(self._root / source_relative))
        if not source.is_relative_to(self._root):
            raise errors.UnsafeArchiveError(
                member=member.name, reason=f"hard link target {member.linkname!r} leaves the root"
            )
        try:
            descriptor = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            raise errors.UnsafeArchiveError(
                member=member.name,
                reason=f"hard link target {member.linkname!r} is not an extracted file",
            ) from None
        with os.fdopen(descriptor, "rb") as origin:
            info = os.fstat(origin.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise errors.UnsafeArchiveError(
                    member=member.name,
                    reason=f"hard link target {member.linkname!r} is not a regular file",
                )
            self._reserve(member, info.st_size)
            path = self._prepare_parent(member, relative)
            self._clear(member, path)
            self._copy(member, origin, path, size=info.st_size, mode=stat.S_IMODE(info.st_mode))
        self._files += 1

    def _symlink(self, member: tarfile.TarInfo, relative: str) -> None:
        if os.path.isabs(member.linkname):
            raise errors.UnsafeArchiveError(
                member=member.name, reason=f"symlink to absolute path {member.linkname!r}"
            )
        path = self._prepare_parent(member, relative)
        if not self._inside(os.path.join(path.parent, member.linkname)):
            raise errors.UnsafeArchiveError(
                member=member.name, reason=f"symlink target {member.linkname!r} leaves the root"
            )
        self._clear(member, path)
        os.symlink(member.linkname, path)
        self._symlinks.append((member.name, path))

    def _verify_symlinks(self) -> None:
        # NB: a symlink accepted earlier can be redirected by a later entry
        # (e.g. a directory it traverses becoming a link); check them all again.
        for name, path in self._symlinks:
            if not self._inside(path):
                raise errors.UnsafeArchiveError(member=name, reason="symlink leaves the root")

    def _reserve(self, member: tarfile.TarInfo, size: int) -> None:
        self._total += size
        if self._total > self._limits.max_total_size:
            raise errors.ArchiveLimitError(
                f"archive content exceeds {self._limits.max_total_size} bytes "
                f"(at member {member.name!r})"
            )

    def _prepare_parent(self, member: tarfile.TarInfo, relative: str) -> pathlib.Path:
        path = self._root / relative
        parent_relative = relative.rpartition("/")[0]
        if parent_relative in self._plain_directories:
            return path
        parent = path.parent
        if not self._inside(parent):
            raise errors.UnsafeArchiveError(
                member=member.name, reason="parent directory resolves outside the root"
            )
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            # e.g. a dangling link or a file where the member needs a directory
            raise errors.UnsafeArchiveError(
                member=member.name, reason="parent path exists and is not a directory"
            ) from None
        real_parent = os.path.realpath(parent)
        if not pathlib.Path(real_parent).is_relative_to(self._root):
            # created through a link that leaves the root
            raise errors.UnsafeArchiveError(
                member=member.name, reason="parent directory resolves outside the root"
            )
        if real_parent == str(parent):
            self._plain_directories.add(parent_relative)
        return path

    def _clear(self, member: tarfile.TarInfo, path: pathlib.Path) -> None:
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(info.st_mode):
            raise errors.UnsafeArchiveError(
                member=member.name, reason="entry replaces an existing directory"
            )
        os.unlink(path)  # a later duplicate wins, as with tar; never write through a link

    def _copy(
        self,
        member: tarfile.TarInfo,
        stream: IO[bytes],
        path: pathlib.Path,
        *,
        size: int,
        mode: int,
    ) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        descriptor = os.open(path, flags, mode & 0o777)
        with os.fdopen(descriptor, "wb") as output:
            remaining = size
            while remaining > 0:
                chunk = stream.read(min(remaining, _COPY_CHUNK))
                if not chunk:
                    raise errors.ArchiveError(f"member {member.name!r} is truncated")
                output.write(chunk)
                remaining -= len(chunk)

    def _inside(self, path: str | os.PathLike[str]) -> bool:
        return pathlib.Path(os.path.realpath(path)).is_relative_to(self._root)


def _normalise(name: str) -> str | None:
    """The member name as a safe relative path; None for the root; raises if unsafe."""
    drive = len(name) >= 2 and name[0].isalpha() and name[1] == ":" and name[2:3] in {"", "/"}
    if name.startswith("/") or drive:
        raise errors.UnsafeArchiveError(member=name, reason="absolute path")
    if "\0" in name or "\\" in name:
        raise errors.UnsafeArchiveError(member=name, reason="invalid character in name")
    parts = [part for part in name.split("/") if part not in {"", "."}]
    if ".." in parts:
        raise errors.UnsafeArchiveError(member=name, reason="path contains '..'")
    return "/".join(parts) or None
