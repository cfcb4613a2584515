"""The tag database: one JSON file per ImageRepository under ``--storage-path``.

Flux keeps tags in an embedded key-value store (badger); Headwater keeps one
file per repository, ``<root>/<namespace>/<name>.json``, holding the tag list
and the scan bookkeeping (the ``reconcile.fluxcd.io/requestedAt`` value last
scanned for). A file is replaced atomically (written beside, fsynced, then
renamed), so a restart finds the last complete scan and never a torn one.
Tags live here and not in the status: a repository may have tens of
thousands.

Contract: ``TagStore.read(namespace, name)`` returns the ``Record`` or None
when there is none (or it is unreadable: the next scan rewrites it);
``write`` raises ``OSError`` on failure; ``remove`` forgets a repository.
The ImagePolicy reconciler, in the same process, reads what the
ImageRepository reconciler wrote.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib


@dataclasses.dataclass(frozen=True)
class Record:
    """One repository's stored scan: its tags and the request it answered."""

    tags: list[str]
    requested_at: str | None = None


class TagStore:
    """Tag records under ``root``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = pathlib.Path(root)

    def _path(self, namespace: str, name: str) -> pathlib.Path:
        return self.root / namespace / f"{name}.json"

    def read(self, namespace: str, name: str) -> Record | None:
        try:
            document = json.loads(self._path(namespace, name).read_bytes())
            return Record(tags=list(document["tags"]), requested_at=document.get("requestedAt"))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def write(self, namespace: str, name: str, record: Record) -> None:
        path = self._path(namespace, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".json.partial")
        body = json.dumps({"tags": record.tags, "requestedAt": record.requested_at})
        with open(partial, "w", encoding="utf-8") as file:
            file.write(body)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)

    def remove(self, namespace: str, name: str) -> None:
        self._path(namespace, name).unlink(missing_ok=True)
