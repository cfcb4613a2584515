"""Object storage behind one small interface, in memory (tests) or SQLite.

Objects are JSON-able dicts addressed by ``(resource key, namespace, name)``
where the resource key is ``<group>/<plural>`` and the namespace is ``""``
for cluster-scoped objects. The store also owns the global resourceVersion
counter so it survives restarts with the data (SQLite).

Contract: callers never mutate a dict they got from or gave to the store;
writes always pass a fresh object. That lets reads skip copying.

The SQLite file holds Secrets, so it is private to its owner whatever the
umask: created mode 0600 (and its directory 0700) before SQLite opens it, an
existing one and its ``-wal``/``-shm``/``-journal`` side files narrowed to
0600 at open; SQLite gives the side files it creates the mode of the database.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import secrets
import sqlite3
from typing import Any, Protocol

Key = tuple[str, str, str]
Obj = dict[str, Any]

STATE_FILE = "devcluster.sqlite3"
SIDE_FILE_SUFFIXES = ("-wal", "-shm", "-journal")


class Storage(Protocol):
    """What the server needs from a store."""

    def get(self, key: Key) -> Obj | None: ...

    def list(self, resource: str, namespace: str | None) -> list[Obj]:
        """Objects of ``resource``, in ``namespace`` or (``None``) every namespace, sorted."""
        ...

    def put(self, key: Key, obj: Obj) -> None: ...

    def delete(self, key: Key) -> None: ...

    def next_version(self) -> int:
        """Advance the global resourceVersion and return the new value."""
        ...

    def current_version(self) -> int: ...

    def close(self) -> None: ...


class MemoryStorage:
    """Dicts in memory: ``resource → {(namespace, name): object}``."""

    def __init__(self) -> None:
        self._objects: dict[str, dict[tuple[str, str], Obj]] = {}
        self._version = 0

    def get(self, key: Key) -> Obj | None:
        return self._objects.get(key[0], {}).get((key[1], key[2]))

    def list(self, resource: str, namespace: str | None) -> list[Obj]:
        bucket = self._objects.get(resource, {})
        keys = sorted(bucket)
        if namespace is not None:
            keys = [k for k in keys if k[0] == namespace]
        return [bucket[k] for k in keys]

    def put(self, key: Key, obj: Obj) -> None:
        self._objects.setdefault(key[0], {})[(key[1], key[2])] = obj

    def delete(self, key: Key) -> None:
        self._objects.get(key[0], {}).pop((key[1], key[2]), None)

    def next_version(self) -> int:
        self._version += 1
        return self._version

    def current_version(self) -> int:
        return self._version

    def close(self) -> None:
        self._objects.clear()


class SqliteStorage(MemoryStorage):
    """Memory storage written through to SQLite, loaded back at start.

    Reads are served from memory; each write is one committed statement, so a
    crash loses at most the write in flight. The resourceVersion counter is
    stored with the data, so versions keep increasing across restarts.
    """

    def __init__(self, directory: pathlib.Path) -> None:
        super().__init__()
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = directory / STATE_FILE
        _make_private(path)
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS objects (resource TEXT, namespace TEXT, name TEXT,"
            " body TEXT, PRIMARY KEY (resource, namespace, name))"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY, value INTEGER)"
        )
        row = self._db.execute("SELECT value FROM counter WHERE id = 1").fetchone()
        self._version = int(row[0]) if row else 0
        for resource, namespace, name, body in self._db.execute(
            "SELECT resource, namespace, name, body FROM objects"
        ):
            super().put((resource, namespace, name), json.loads(body))

    def put(self, key: Key, obj: Obj) -> None:
        super().put(key, obj)
        self._db.execute(
            "INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?)",
            (*key, json.dumps(obj, separators=(",", ":"))),
        )

    def delete(self, key: Key) -> None:
        super().delete(key)
        self._db.execute(
            "DELETE FROM objects WHERE resource = ? AND namespace = ? AND name = ?", key
        )

    def next_version(self) -> int:
        version = super().next_version()
        self._db.execute("INSERT OR REPLACE INTO counter VALUES (1, ?)", (version,))
        return version

    def close(self) -> None:
        self._db.close()
        super().close()


def _make_private(path: pathlib.Path) -> None:
    """Create ``path`` mode 0600 if missing; narrow it and its side files to 0600 if not."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.fchmod(descriptor, 0o600)
    finally:
        os.close(descriptor)
    for suffix in SIDE_FILE_SUFFIXES:
        with contextlib.suppress(FileNotFoundError):
            os.chmod(f"{path}{suffix}", 0o600)


def private_random_bytes(path: pathlib.Path, *, size: int) -> bytes:
    """The bytes kept in ``path``: created (mode 0600 from the start) with ``size`` random
    bytes when missing, narrowed to 0600 when an older version left it readable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        os.chmod(path, 0o600)
        return path.read_bytes()
    with os.fdopen(descriptor, "wb") as created:
        created.write(secrets.token_bytes(size))
    return path.read_bytes()


def open_storage(data_dir: pathlib.Path | None) -> MemoryStorage:
    """SQLite under ``data_dir`` when given, else memory."""
    return SqliteStorage(data_dir) if data_dir is not None else MemoryStorage()
