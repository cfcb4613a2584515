"""Artifact storage: layout, atomic writes, per-object locks, GC and removal.

Layout (Flux's): ``<root>/<kind lowercased>/<namespace>/<name>/<file>``; the
artifact's ``path`` is the part after the root and its URL is
``http://<advertised address>/<path>``. Files are only ever created by
writing a hidden temporary file (``.tmp-*``) in the object's directory and
renaming it over the final name, so a reader (the artifact server, another
process) sees the old file or the new one, never a partial one. Files are
mode 0600; names starting with a dot (temporaries, ``.lock``) are never
artifacts: the server refuses them and GC treats them separately. A
producer that streams writes that temporary itself as it goes (``stage``,
``staging.Staged``) and ``commit`` renames it: the artifact is written once.

Durability is Flux's: a write is atomic for readers but not fsynced. A
process crash loses nothing (the page cache outlives it); only a machine
crash can leave a renamed file short, and that is survivable because every
artifact can be produced again from its source, the object's status names
the file only after the rename, ``exists`` reports a file whose size is not
the artifact's as missing (so the reconciler writes it again), and
consumers check the digest of what they download. An fsync per artifact
would cost more than the rest of storing a small one.

Locking: ``Storage.lock(key)`` serialises everything done for one object
— within the process with an asyncio lock, across processes with an
``flock`` on ``<object dir>/.lock`` — and every mutation of an object's
directory (write, GC, removal) is meant to run while holding it.

Garbage collection follows Flux's ``--artifact-retention-ttl`` (default 1m)
and ``--artifact-retention-records`` (default 2): the current artifact is
always kept; any other file older than the TTL is deleted, and the oldest
others are deleted until at most ``records`` files remain (the current one
counted). Temporaries untouched for longer than the TTL are deleted too.
``remove_partial_files`` deletes every temporary at once, at process start:
what a crash left mid-write, in each object directory whose lock is free.

Blocking filesystem work runs in threads (``asyncio.to_thread``) so the
event loop never waits on disk, gzip or hashing.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import errno
import fcntl
import os
import pathlib
import secrets
import shutil
import stat
import time
from collections.abc import AsyncIterator, Callable
from typing import IO, Final

from shared.api import meta
from shared.artifacts import archiving, digests, errors, staging

LOCK_FILE: Final = ".lock"
TEMP_PREFIX: Final = staging.TEMP_PREFIX
FILE_MODE: Final = staging.FILE_MODE
_LOCK_POLL_INITIAL: Final = 0.005
_LOCK_POLL_MAX: Final = 0.25


@dataclasses.dataclass(frozen=True)
class ObjectKey:
    """The object an artifact belongs to; each part becomes one path component."""

    kind: str
    namespace: str
    name: str

    def directory(self) -> str:
        """``<kind lowercased>/<namespace>/<name>``, validated."""
        parts = (self.kind.lower(), self.namespace, self.name)
        for part in parts:
            _check_component(part)
        return "/".join(parts)


@dataclasses.dataclass(frozen=True)
class RetentionPolicy:
    """How long and how many superseded artifacts are kept (Flux's flags)."""

    ttl: datetime.timedelta = datetime.timedelta(minutes=1)
    records: int = 2


class Storage:
    """One storage root and the address its files are served from.

    ``advertised_address`` is ``--storage-adv-addr``: ``host:port`` (the URL
    gets ``http://``) or a full ``http(s)://`` base URL. ``max_artifact_size``
    is ``--artifact-max-size``: ``archive`` refuses a tree whose files total
    more (ArchiveLimitError), so no consumer is handed an artifact too large
    for it; None means no limit.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        advertised_address: str,
        retention: RetentionPolicy | None = None,
        max_artifact_size: int | None = None,
        lock_timeout: datetime.timedelta = datetime.timedelta(minutes=1),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = pathlib.Path(root).absolute()
        self.advertised_address = advertised_address
        self.retention = retention or RetentionPolicy()
        self.max_artifact_size = max_artifact_size
        self._lock_timeout = lock_timeout.total_seconds()
        self._clock = clock
        self._local_locks: dict[str, asyncio.Lock] = {}
        self._local_users: dict[str, int] = {}

    # --- layout ----------------------------------------------------------------------

    def artifact_path(self, key: ObjectKey, filename: str) -> str:
        """The relative path of ``filename`` for ``key`` (``gitrepository/ns/name/f``)."""
        _check_component(filename)
        return f"{key.directory()}/{filename}"

    def local_path(self, path: str) -> pathlib.Path:
        """The file system path of an artifact path; refuses anything leaving the root."""
        parts = path.split("/")
        for part in parts:
            _check_component(part)
        return self.root.joinpath(*parts)

    def url_for(self, path: str) -> str:
        """The URL consumers download the artifact at ``path`` from."""
        base = self.advertised_address
        if not base.startswith(("http://", "https://")):
            base = f"http://{base}"
        return f"{base.rstrip('/')}/{path.lstrip('/')}"

    # --- locking ---------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lock(self, key: ObjectKey) -> AsyncIterator[None]:
        """Hold the object's lock (in-process and ``flock``) for the block.

        Raises LockTimeoutError when it is not acquired within the timeout.
        """
        directory = key.directory()
        local = self._local_locks.setdefault(directory, asyncio.Lock())
        self._local_users[directory] = self._local_users.get(directory, 0) + 1
        try:
            try:
                async with asyncio.timeout(self._lock_timeout):
                    await local.acquire()
            except TimeoutError as exc:
                raise errors.LockTimeoutError(
                    f"lock for {directory} still held after {self._lock_timeout:g}s"
                ) from exc
            try:
                descriptor = await self._acquire_file_lock(self.root / directory)
                try:
                    yield
                finally:
                    os.close(descriptor)  # closing releases the flock
            finally:
                local.release()
        finally:
            self._local_users[directory] -= 1
            if self._local_users[directory] == 0:
                del self._local_users[directory]
                del self._local_locks[directory]

    async def _acquire_file_lock(self, directory: pathlib.Path) -> int:
        try:
            # NB: opening an existing file is one metadata syscall, as ``exists``'s
            # lstat: a thread hand-off would cost more than it, on a busy machine
            # several times more. Creating the directory goes to a thread.
            descriptor = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            descriptor = await asyncio.to_thread(_open_lock_file, directory)
        except OSError as exc:
            raise errors.StorageError(f"opening lock file in {directory}: {exc}") from exc
        deadline = time.monotonic() + self._lock_timeout
        delay = _LOCK_POLL_INITIAL
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return descriptor
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(descriptor)
                    raise errors.LockTimeoutError(
                        f"lock file {directory / LOCK_FILE} held by another process "
                        f"for more than {self._lock_timeout:g}s"
                    ) from None
            except OSError as exc:
                os.close(descriptor)
                raise errors.StorageError(f"locking {directory}: {exc}") from exc
            # NB: flock has no async form; a short, growing poll keeps the loop free.
            await asyncio.sleep(delay)
            delay = min(delay * 2, _LOCK_POLL_MAX)

    # --- writing ---------------------------------------------------------------------

    async def archive(
        self,
        key: ObjectKey,
        *,
        source: str | os.PathLike[str],
        revision: str,
        filename: str | None = None,
        exclude: archiving.PathFilter | None = None,
    ) -> meta.Artifact:
        """Archive ``source`` as the object's artifact and return its description.

        ``filename`` defaults to ``<sha256 hex>.tar.gz`` (content addressed).
        """

        def write(stream: IO[bytes]) -> tuple[str, int]:
            result = archiving.write_archive(
                source, stream, exclude=exclude, max_size=self.max_artifact_size
            )
            return result.digest, result.size

        return await self._write(
            key, filename=filename, suffix=".tar.gz", revision=revision, produce=write
        )

    async def store_file(
        self,
        key: ObjectKey,
        *,
        source: str | os.PathLike[str],
        filename: str,
        revision: str,
    ) -> meta.Artifact:
        """Copy a finished file (a chart, an index, an OCI layer) into storage."""

        def write(stream: IO[bytes]) -> tuple[str, int]:
            digester = digests.DigestingWriter(stream)
            try:
                with open(source, "rb") as origin:
                    while chunk := origin.read(digests.CHUNK_SIZE):
                        digester.write(chunk)
            except OSError as exc:
                raise errors.StorageError(f"reading {os.fspath(source)}: {exc}") from exc
            return digester.digest, digester.size

        return await self._write(
            key, filename=filename, suffix="", revision=revision, produce=write
        )

    async def store_bytes(
        self, key: ObjectKey, *, data: bytes, filename: str, revision: str
    ) -> meta.Artifact:
        """Store an in-memory document (for example a Helm repository index)."""

        def write(stream: IO[bytes]) -> tuple[str, int]:
            digester = digests.DigestingWriter(stream)
            digester.write(data)
            return digester.digest, digester.size

        return await self._write(
            key, filename=filename, suffix="", revision=revision, produce=write
        )

    def stage(self, key: ObjectKey) -> staging.Staged:
        """A file to write the object's next artifact into as it is produced (``staging``).

        Nothing touches the disk until its first write; ``commit`` stores it.
        """
        return staging.Staged(self.root / key.directory())

    async def commit(
        self, key: ObjectKey, staged: staging.Staged, *, filename: str, revision: str
    ) -> meta.Artifact:
        """Store ``staged`` (written, its ``digest`` set) as ``filename``: one rename.

        Call it while holding the object's lock; on failure the staged file is discarded.
        """
        _check_component(filename)
        digest = staged.digest
        if digest is None or staged.directory != self.root / key.directory():
            raise errors.StorageError(f"{staged.path} is not a finished file for {key.directory()}")

        # NB: the file is written and closed already: what is left is one rename,
        # a metadata syscall like ``exists``'s lstat, cheaper than a thread hand-off.
        try:
            staged.close()
            os.replace(staged.path, staged.directory / filename)
        except OSError as exc:
            staged.discard()
            raise errors.StorageError(f"writing artifact in {staged.directory}: {exc}") from exc
        except BaseException:
            staged.discard()
            raise
        return self._artifact(key, filename, revision=revision, digest=digest, size=staged.size)

    async def _write(
        self,
        key: ObjectKey,
        *,
        filename: str | None,
        suffix: str,
        revision: str,
        produce: Callable[[IO[bytes]], tuple[str, int]],
    ) -> meta.Artifact:
        directory = self.root / key.directory()
        if filename is not None:
            _check_component(filename)
        final_name, digest, size = await asyncio.to_thread(
            _atomic_write, directory, filename, suffix, produce
        )
        return self._artifact(key, final_name, revision=revision, digest=digest, size=size)

    def _artifact(
        self, key: ObjectKey, filename: str, *, revision: str, digest: str, size: int
    ) -> meta.Artifact:
        path = self.artifact_path(key, filename)
        return meta.Artifact(
            path=path,
            url=self.url_for(path),
            revision=revision,
            digest=digest,
            last_update_time=_rfc3339(self._clock()),
            size=size,
        )

    async def symlink(self, artifact: meta.Artifact, link_name: str) -> str:
        """Point ``link_name`` (e.g. ``latest.tar.gz``) at the artifact; return its URL."""
        _check_component(link_name)
        target = self.local_path(artifact.path)
        link = target.parent / link_name
        await asyncio.to_thread(_atomic_symlink, target.name, link)
        return self.url_for(f"{artifact.path.rsplit('/', 1)[0]}/{link_name}")

    # --- reading ---------------------------------------------------------------------

    def exists(self, artifact: meta.Artifact) -> bool:
        """True when the artifact's file is in storage: a regular file of the artifact's size.

        A file of another size is one a machine crash cut short (writes are
        not fsynced): it counts as missing, so its reconciler writes it again.
        """
        try:
            info = os.lstat(self.local_path(artifact.path))
        except OSError:
            return False
        return stat.S_ISREG(info.st_mode) and artifact.size in (None, info.st_size)

    async def verify(self, artifact: meta.Artifact) -> None:
        """Raise DigestMismatchError (or StorageError) unless the file matches its digest."""
        await asyncio.to_thread(
            digests.verify_file, self.local_path(artifact.path), artifact.digest
        )

    # --- removal ---------------------------------------------------------------------

    async def garbage_collect(self, artifact: meta.Artifact) -> list[str]:
        """Apply the retention policy to the artifact's directory; return deleted paths.

        Call it while holding the object's lock.
        """
        current = self.local_path(artifact.path)
        deleted = await asyncio.to_thread(_collect_garbage, current, self.retention, self._clock())
        return [f"{artifact.path.rsplit('/', 1)[0]}/{name}" for name in deleted]

    async def remove_partial_files(self) -> list[str]:
        """Delete the temporaries (``.tmp-*``) a crashed writer left; return their paths.

        Meant for process start. An object directory whose lock another
        process holds (a write in progress) is skipped.
        """
        return await asyncio.to_thread(_remove_partial_files, self.root)

    async def remove_object(self, key: ObjectKey) -> bool:
        """Delete every file of the object (on deletion); True if anything existed."""
        directory = self.root / key.directory()
        return await asyncio.to_thread(_remove_tree, directory)


# --- helpers run in threads --------------------------------------------------------------


def _check_component(part: str) -> None:
    if not part or part in {".", ".."} or "/" in part or "\\" in part or "\0" in part:
        raise errors.InvalidArtifactPathError(f"invalid artifact path component {part!r}")


def _rfc3339(timestamp: float) -> str:
    moment = datetime.datetime.fromtimestamp(int(timestamp), tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _open_lock_file(directory: pathlib.Path) -> int:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        return os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    except OSError as exc:
        raise errors.StorageError(f"opening lock file in {directory}: {exc}") from exc


def _atomic_write(
    directory: pathlib.Path,
    filename: str | None,
    suffix: str,
    produce: Callable[[IO[bytes]], tuple[str, int]],
) -> tuple[str, str, int]:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise errors.StorageError(f"creating {directory}: {exc}") from exc
    temporary = directory / f"{TEMP_PREFIX}{secrets.token_hex(8)}"
    try:
        descriptor = os.open(
            temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE
        )
        with os.fdopen(descriptor, "wb") as stream:
            digest, size = produce(stream)
        final_name = filename or f"{digests.parse_digest(digest)[1]}{suffix}"
        # NB: no fsync, as in Flux: see the module docstring for why that is safe.
        os.replace(temporary, directory / final_name)
    except OSError as exc:
        _unlink_quietly(temporary)
        raise errors.StorageError(f"writing artifact in {directory}: {exc}") from exc
    except BaseException:
        _unlink_quietly(temporary)
        raise
    return final_name, digest, size


def _atomic_symlink(target_name: str, link: pathlib.Path) -> None:
    temporary = link.parent / f"{TEMP_PREFIX}{secrets.token_hex(8)}"
    try:
        os.symlink(target_name, temporary)
        os.replace(temporary, link)
    except OSError as exc:
        _unlink_quietly(temporary)
        raise errors.StorageError(f"linking {link.name} to {target_name}: {exc}") from exc


def _unlink_quietly(path: pathlib.Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _collect_garbage(current: pathlib.Path, retention: RetentionPolicy, now: float) -> list[str]:
    directory = current.parent
    candidates: list[tuple[float, str]] = []
    deleted: list[str] = []
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise errors.StorageError(f"listing {directory}: {exc}") from exc
    ttl = retention.ttl.total_seconds()
    kept_files = 0
    for entry in entries:
        if entry.is_symlink() or not entry.is_file(follow_symlinks=False):
            continue
        if entry.name.startswith(TEMP_PREFIX):
            # A write in progress keeps touching its file; one untouched past the
            # TTL was abandoned by a crash.
            if now - entry.stat(follow_symlinks=False).st_mtime > ttl:
                _remove_file(directory, entry.name, deleted)
            continue
        if entry.name.startswith("."):
            continue
        kept_files += 1
        if entry.name == current.name:
            continue
        candidates.append((entry.stat(follow_symlinks=False).st_mtime, entry.name))
    candidates.sort()  # oldest first; ties by name keep the choice deterministic
    for modified, name in candidates:
        if now - modified > ttl or kept_files > retention.records:
            _remove_file(directory, name, deleted)
            kept_files -= 1
    return deleted


def _remove_partial_files(root: pathlib.Path) -> list[str]:
    removed: list[str] = []
    # <root>/<kind>/<namespace>/<name>/: temporaries live only at the third level.
    for directory in root.glob("*/*/*/"):
        temporaries = [p.name for p in directory.glob(f"{TEMP_PREFIX}*") if not p.is_dir()]
        if not temporaries:
            continue
        descriptor = _open_lock_file(directory)
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live writer holds the object: its temporary is not partial
            for name in temporaries:
                _remove_file(directory, name, [])
                removed.append(str((directory / name).relative_to(root)))
        finally:
            os.close(descriptor)
    return removed


def _remove_file(directory: pathlib.Path, name: str, deleted: list[str]) -> None:
    try:
        (directory / name).unlink()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise errors.StorageError(f"removing {directory / name}: {exc}") from exc
    if not name.startswith("."):
        deleted.append(name)


def _remove_tree(directory: pathlib.Path) -> bool:
    try:
        shutil.rmtree(directory)
    except FileNotFoundError:
        return False
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return False
        raise errors.StorageError(f"removing {directory}: {exc}") from exc
    return True
