"""A Bucket's last object index, kept beside its artifacts so a restart downloads only changes.

``save(store, key, artifact_path, index)`` writes ``<object dir>/.bucket-index.json``
(the artifact path and the ``key → ETag`` index it was built from) as the
storage writes files: a hidden temporary renamed over the final name, so a
reader sees the old index or the new one. Names starting with a dot are
never served nor garbage collected; the file goes with the object's
directory when the Bucket is deleted. ``load`` returns ``("", {})`` when
there is no index or it cannot be read: then every object is downloaded,
as on a first reconcile. ``save`` fails with ``StorageError``; call it while
holding the object's lock.
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import tempfile

from shared.artifacts import errors, storage

INDEX_FILE = ".bucket-index.json"


async def save(
    store: storage.Storage, key: storage.ObjectKey, artifact_path: str, index: dict[str, str]
) -> None:
    target = store.local_path(store.artifact_path(key, INDEX_FILE))
    body = json.dumps({"path": artifact_path, "index": index}, sort_keys=True).encode()
    await asyncio.to_thread(_write, target, body)


async def load(store: storage.Storage, key: storage.ObjectKey) -> tuple[str, dict[str, str]]:
    target = store.local_path(store.artifact_path(key, INDEX_FILE))
    try:
        saved = json.loads(await asyncio.to_thread(target.read_bytes))
        path, index = str(saved["path"]), saved["index"]
    except (OSError, ValueError, KeyError, TypeError):
        return "", {}
    if not isinstance(index, dict):
        return "", {}
    return path, {str(k): str(v) for k, v in index.items()}


def _write(target: pathlib.Path, body: bytes) -> None:
    try:
        descriptor, temporary = tempfile.mkstemp(prefix=storage.TEMP_PREFIX, dir=target.parent)
    except OSError as failed:
        raise errors.StorageError(f"writing {target.name}: {failed.strerror}") from failed
    try:
        with os.fdopen(descriptor, "wb") as out:
            out.write(body)
        os.replace(temporary, target)
    except OSError as failed:
        pathlib.Path(temporary).unlink(missing_ok=True)
        raise errors.StorageError(f"writing {target.name}: {failed.strerror}") from failed
