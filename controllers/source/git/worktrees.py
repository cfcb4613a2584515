"""Writing a commit's tree to a directory: the checkout without an index.

Contract: ``write_tree`` materializes the tree of one commit from a map of
objects (``packs.ObjectMap``) under ``dest`` (which must exist and be empty) and returns the
gitlinks (submodule commits) it met, for the caller to fill. Every path
component from the tree is checked: ``..``, ``.``, names with ``/`` or NUL,
and ``.git`` (any case) are refused with ``errors.IllegalPathError``, so a
hostile repository cannot write outside ``dest`` or plant Git metadata.
Symlinks are written as the links they are; whether a link may leave the root
is decided by whoever packages or extracts the tree.

Blobs left in the pack (``unpacking.PackedBlob``) are inflated straight into
their files in bounded pieces, so writing a large file costs no more memory
than a small one.

``sparse`` limits the checkout to the listed directories (Flux's
``spec.sparseCheckout``: only those directories, not the root files).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import pathlib
import posixpath
import stat
from collections.abc import Callable, Mapping, Sequence

import dulwich.objects

from controllers.source.git import errors, unpacking

GITLINK_MODE = 0o160000
MAX_SYMLINK_TARGET = 4095
"""PATH_MAX less its NUL: no file system takes a longer symlink target."""
WRITER_THREADS = 4
_PARALLEL_THRESHOLD = 64
_BATCH = 512


@dataclasses.dataclass(frozen=True)
class Gitlink:
    """A submodule entry: where it goes and which commit it pins."""

    path: str
    commit: str


@dataclasses.dataclass(frozen=True)
class WriteStats:
    files: int
    directories: int
    gitlinks: tuple[Gitlink, ...]


def normalize_sparse(directories: Sequence[str]) -> tuple[str, ...]:
    """``spec.sparseCheckout`` as clean relative POSIX paths; IllegalPathError if one escapes."""
    cleaned: list[str] = []
    for raw in directories:
        stripped = raw.strip()
        normalized = posixpath.normpath(stripped.rstrip("/")) if stripped.rstrip("/") else ""
        if (
            stripped.startswith("/")
            or "\0" in stripped
            or normalized in ("", ".", "..")
            or normalized.startswith("../")
        ):
            raise errors.IllegalPathError(
                f"sparse checkout entry {raw!r} must be a directory inside the repository"
            )
        cleaned.append(normalized)
    return tuple(sorted(set(cleaned)))


def _check_name(name: bytes, *, parent: str) -> str:
    try:
        text = name.decode("utf-8")
    except UnicodeDecodeError:
        text = name.decode("utf-8", "surrogateescape")
    if (
        text in ("", ".", "..")
        or "/" in text
        or "\0" in text
        or text.lower() == ".git"
        or (os.sep != "/" and os.sep in text)
    ):
        raise errors.IllegalPathError(
            f"the commit contains an illegal path entry {posixpath.join(parent, text)!r}"
        )
    return text


def _selected(path: str, sparse: tuple[str, ...]) -> tuple[bool, bool]:
    """(write this entry, descend into it) for a directory or file at ``path``."""
    if not sparse:
        return True, True
    for directory in sparse:
        if path == directory or path.startswith(directory + "/"):
            return True, True
        if directory.startswith(path + "/"):
            return False, True
    return False, False


Blob = dulwich.objects.Blob | unpacking.PackedBlob


def write_tree(
    store: Mapping[dulwich.objects.ObjectID, dulwich.objects.ShaFile | unpacking.PackedBlob],
    tree_id: dulwich.objects.ObjectID,
    dest: pathlib.Path,
    *,
    sparse: tuple[str, ...] = (),
    check: Callable[[], None] = lambda: None,
) -> WriteStats:
    """Write the tree ``tree_id`` under ``dest``; ``check`` is called per entry (deadline)."""
    files = directories = 0
    gitlinks: list[Gitlink] = []
    found_sparse: set[str] = set()
    pending: list[tuple[str, Blob, int]] = []
    stack: list[tuple[dulwich.objects.ObjectID, str]] = [(tree_id, "")]
    while stack:
        current_id, prefix = stack.pop()
        tree = store[current_id]
        if not isinstance(tree, dulwich.objects.Tree):
            raise errors.GitOperationError(f"object {current_id.decode()} is not a tree")
        for entry in tree.iteritems():
            check()
            assert entry.path is not None
            assert entry.mode is not None
            assert entry.sha is not None
            name = _check_name(entry.path, parent=prefix)
            rel = f"{prefix}/{name}" if prefix else name
            write, descend = _selected(rel, sparse)
            if sparse and write:
                found_sparse.update(d for d in sparse if rel == d)
            target = dest / rel
            mode = entry.mode
            if stat.S_ISDIR(mode):
                if not descend:
                    continue
                if write:
                    target.mkdir(exist_ok=True)
                    directories += 1
                else:
                    target.mkdir(parents=True, exist_ok=True)
                stack.append((entry.sha, rel))
                continue
            if not write:
                continue
            if mode == GITLINK_MODE:
                target.mkdir(exist_ok=True)
                gitlinks.append(Gitlink(path=rel, commit=entry.sha.decode("ascii")))
                continue
            blob = store.get(entry.sha)
            if not isinstance(blob, (dulwich.objects.Blob, unpacking.PackedBlob)):
                raise errors.GitOperationError(f"tree entry {rel!r} is not a blob we received")
            if stat.S_ISLNK(mode):
                os.symlink(_symlink_target(blob, rel), target)
            else:
                pending.append((str(target), blob, 0o755 if mode & 0o111 else 0o644))
            files += 1
    _write_files(pending, check=check)
    missing = [d for d in sparse if d not in found_sparse]
    if missing:
        raise errors.GitOperationError(
            f"sparse checkout directories not found in the commit: {', '.join(missing)}"
        )
    _prune_empty_parents(dest, sparse)
    return WriteStats(files=files, directories=directories, gitlinks=tuple(gitlinks))


def _symlink_target(blob: Blob, rel: str) -> bytes:
    if isinstance(blob, dulwich.objects.Blob):
        return blob.as_raw_string()
    try:
        return blob.read(limit=MAX_SYMLINK_TARGET)
    except ValueError:
        raise errors.GitOperationError(
            f"symlink {rel!r} has a target longer than any path"
        ) from None


def _write_one(item: tuple[str, Blob, int]) -> None:
    path, blob, mode = item
    chunks = blob.chunks() if isinstance(blob, unpacking.PackedBlob) else blob.as_raw_chunks()
    # O_EXCL: never write through something already there (a planted symlink).
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        for chunk in chunks:
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _write_files(pending: list[tuple[str, Blob, int]], *, check: Callable[[], None]) -> None:
    """Create the files; a few threads overlap the file system's per-file latency."""
    if len(pending) < _PARALLEL_THRESHOLD:
        for item in pending:
            _write_one(item)
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=WRITER_THREADS) as pool:
        for start in range(0, len(pending), _BATCH):
            check()
            list(pool.map(_write_one, pending[start : start + _BATCH]))


def _prune_empty_parents(dest: pathlib.Path, sparse: tuple[str, ...]) -> None:
    """Remove directories created only on the way to a sparse directory that turned out empty."""
    if not sparse:
        return
    for path in sorted(dest.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and not path.is_symlink() and not any(path.iterdir()):
            rel = path.relative_to(dest).as_posix()
            if rel not in sparse and not any(rel.startswith(d + "/") for d in sparse):
                path.rmdir()
