"""Helm's release storage read from a watch cache, when the cache has caught up.

A reconcile with nothing to do must cost no API request, yet the release
loop starts by reading the release's revisions. ``StoredReleases`` serves
them from an informer of the storage Secrets (label ``owner=helm``, indexed
by ``<namespace>/<release name>``), decoding each Secret once per
resourceVersion. A watch may lag behind the controller's own last write, so
the cached revisions are used only when their newest one is exactly the
revision the HelmRelease's history recorded last (same version and digest):
then nothing the controller wrote is missing from the cache. A HelmRelease
with no history recorded and no revision in the cache has none: the install
then lists nothing either (a revision stored meanwhile by someone else makes
the install's first write fail, and the next attempt reads storage).
Otherwise, and for remote clusters (no cache there), the loop reads the
storage itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from controllers.helm import snapshots
from controllers.helm.engine import failures, records, storage
from shared.api import helm

RELEASE_INDEX = "helm-release"
OWNER_SELECTOR = f"owner={storage.OWNER}"
MAX_DECODED = 20_000
"""Decoded revisions kept (a few per release); past it the memo starts over."""

Cache = Callable[[], Awaitable[Any]]
"""The informer of storage Secrets (started; ``wait_synced``, ``by_index``)."""


def release_key(secret: dict[str, Any]) -> list[str]:
    """The index key of a storage Secret: ``<namespace>/<release name>``."""
    metadata = secret.get("metadata") or {}
    name = (metadata.get("labels") or {}).get("name")
    return [f"{metadata.get('namespace')}/{name}"] if name else []


class StoredReleases:
    """Release revisions from the watch cache (see the module docstring)."""

    def __init__(self, cache: Cache) -> None:
        self._cache = cache
        self._decoded: dict[str, tuple[str, records.ReleaseRecord]] = {}

    def _decode(self, secret: dict[str, Any]) -> records.ReleaseRecord | None:
        metadata = secret.get("metadata") or {}
        key = f"{metadata.get('namespace')}/{metadata.get('name')}"
        version = str(metadata.get("resourceVersion", ""))
        known = self._decoded.get(key)
        if known is not None and known[0] == version:
            return known[1]
        try:
            found = storage.from_secret(secret)
        except failures.StorageError:
            return None
        if len(self._decoded) >= MAX_DECODED:
            # NB: revisions of deleted releases would otherwise stay forever.
            self._decoded.clear()
        self._decoded[key] = (version, found)
        return found

    async def history(
        self, namespace: str, name: str, *, recorded: helm.Snapshot | None
    ) -> list[records.ReleaseRecord] | None:
        """The revisions of release ``name`` (oldest first), or None when the cache may lag."""
        informer = await self._cache()
        await informer.wait_synced()
        secrets = informer.by_index(RELEASE_INDEX, f"{namespace}/{name}")
        if recorded is None:
            return [] if not secrets else None
        found = [r for r in (self._decode(s) for s in secrets) if r is not None]
        found.sort(key=lambda record: record.version)
        if not found or not snapshots.targets(recorded, found[-1]):
            return None
        if recorded.digest != found[-1].digest(oci_digest=recorded.oci_digest or ""):
            return None
        return found
