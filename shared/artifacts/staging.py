"""An artifact written while it is produced: a temporary file in its object's directory.

``Staged`` (made by ``storage.Storage.stage``) lets a producer that streams
(a chart layer as the registry sends it) write the artifact in the same pass,
from a worker thread, and have it stored with one rename
(``Storage.commit``) instead of a second write. Contract:

- nothing touches the disk until the first ``write``: the file is then
  created as a temporary (``.tmp-*``, so never served, and collected by
  ``Storage.garbage_collect`` and ``remove_partial_files`` if its producer
  dies before it is committed or discarded);
- ``write``, ``close`` and ``discard`` block: call them from a thread;
  ``write`` after ``close`` or ``discard`` raises ``StorageError``;
- ``discard`` removes the file and may be called any number of times; a
  producer that gives up calls it (committing moves the file away first);
- ``digest``: the producer sets it to the digest of what it wrote (checked
  on the way, for example against a registry's layer digest) before commit.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import secrets
from typing import Final

from shared.artifacts import errors

TEMP_PREFIX: Final = ".tmp-"
FILE_MODE: Final = 0o600


class Staged:
    """A temporary file in ``directory``, written by one producer (see the module docstring)."""

    def __init__(self, directory: pathlib.Path) -> None:
        self.directory = directory
        self.path = directory / f"{TEMP_PREFIX}{secrets.token_hex(8)}"
        self.size = 0
        self.digest: str | None = None
        """The digest of the content, set by the producer once it has checked it."""
        self._descriptor: int | None = None
        self._closed = False

    def write(self, data: bytes) -> None:
        """Append ``data`` (the file is created by the first call)."""
        if self._closed:
            raise errors.StorageError(f"writing {self.path}: already closed")
        try:
            if self._descriptor is None:
                self.directory.mkdir(parents=True, exist_ok=True)
                self._descriptor = os.open(
                    self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE
                )
            view = memoryview(data)
            while view:
                view = view[os.write(self._descriptor, view) :]
        except OSError as exc:
            raise errors.StorageError(f"writing {self.path}: {exc}") from exc
        self.size += len(data)

    def close(self) -> None:
        """Finish writing; an empty file is created if nothing was written."""
        if self._descriptor is None and not self._closed:
            self.write(b"")
        self._closed = True
        if self._descriptor is not None:
            descriptor, self._descriptor = self._descriptor, None
            os.close(descriptor)

    def discard(self) -> None:
        """Close and remove the file, whatever state it is in."""
        self._closed = True
        if self._descriptor is not None:
            descriptor, self._descriptor = self._descriptor, None
            os.close(descriptor)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
