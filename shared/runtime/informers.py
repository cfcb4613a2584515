"""Informers: list + watch of one kind into a local cache, with event handlers.

An ``Informer`` keeps an up-to-date cache of every object of one resource
(optionally one namespace and/or a label selector), so controllers read from
memory instead of the API server. Contract:

- it lists (in pages), marks itself ``synced`` and then watches from the
  list's resourceVersion, asking for bookmarks so that a reconnect resumes
  from the newest version seen instead of re-listing;
- a watch that ends is resumed from the last version; a ``410 Gone`` (the
  version is too old) re-lists, and objects that disappeared meanwhile are
  reported as deletions, so no update is lost;
- when the API server is unreachable it retries with capped exponential
  backoff, keeping the cache (stale but usable) in the meantime;
- handlers are called for every change with ``(event_type, new, old)``;
  they must be quick and non-blocking (they enqueue keys);
- ``managedFields`` are stripped from cached objects (as Flux's caches do):
  they are most of an object's size; only who manages each object is kept
  (``field_managers``: manager, operation and subresource per entry), which
  the resource manager needs to know when to take fields over; cached
  objects are ``interning.compact``-ed: thousands of objects of one kind
  repeat the same keys and short values;
- given a ``discovery``, a ``404`` on the list or watch of a resource that
  discovery (asked afresh) no longer serves (its CRD was deleted) ends
  ``run`` with one log line: the cache is emptied, ``stopped`` is set and
  ``wait_synced`` returns, so nothing waits on it. Whoever shares informers
  drops a stopped one; a new informer can start when the kind is served
  again. Without one, a 404 is retried like any other failure;
- secondary indexes map an index value to cache keys, so a controller finds
  e.g. every Kustomization that references a GitRepository.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Callable, Iterable
from typing import Any

from shared.kube import client, errors, interning, resources, takeover
from shared.runtime import logging

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"

Handler = Callable[[str, dict[str, Any], dict[str, Any] | None], None]
IndexFunc = Callable[[dict[str, Any]], Iterable[str]]


def key_of(obj: dict[str, Any]) -> str:
    """The cache key of an object: ``namespace/name``, or ``name`` if cluster-scoped."""
    metadata = obj.get("metadata", {})
    namespace = metadata.get("namespace")
    return f"{namespace}/{metadata['name']}" if namespace else str(metadata["name"])


@dataclasses.dataclass(frozen=True, kw_only=True)
class Scope:
    """Which objects an informer sees: one namespace (or all) and a label selector."""

    namespace: str | None = None
    label_selector: str | None = None


class Informer:
    """The cache and watch loop of one resource (see the module docstring)."""

    def __init__(
        self,
        *,
        api: client.Client,
        resource: resources.Resource,
        scope: Scope | None = None,
        page_size: int = 500,
        watch_timeout: float = 300.0,
        max_backoff: float = 30.0,
        discovery: resources.Discovery | None = None,
    ) -> None:
        self.api = api
        self.resource = resource
        self._discovery = discovery
        self.scope = scope or Scope()
        self._page_size = page_size
        self._watch_timeout = watch_timeout
        self._max_backoff = max_backoff
        self._cache: dict[str, dict[str, Any]] = {}
        self._managers: dict[str, takeover.Summary] = {}
        self._summaries: dict[takeover.Summary, takeover.Summary] = {}
        self._handlers: list[Handler] = []
        self._index_funcs: dict[str, IndexFunc] = {}
        self._indexes: dict[str, dict[str, set[str]]] = {}
        self._synced = asyncio.Event()
        self.resource_version = ""
        self.relists = 0
        self.stopped = False
        self._log = logging.get_logger(informer=resource.plural)

    # --- reading -------------------------------------------------------------------------

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    async def wait_synced(self) -> None:
        await self._synced.wait()

    def get(self, key: str) -> dict[str, Any] | None:
        return self._cache.get(key)

    def field_managers(self, key: str) -> takeover.Summary:
        """Who manages the cached object ``key`` (empty when unknown or absent)."""
        return self._managers.get(key, ())

    def objects(self) -> list[dict[str, Any]]:
        return list(self._cache.values())

    def __len__(self) -> int:
        return len(self._cache)

    def by_index(self, index: str, value: str) -> list[dict[str, Any]]:
        """Cached objects whose ``index`` function yielded ``value``."""
        keys = self._indexes.get(index, {}).get(value, set())
        return [self._cache[key] for key in sorted(keys) if key in self._cache]

    # --- registration --------------------------------------------------------------------

    def add_handler(self, handler: Handler) -> None:
        """Call ``handler`` for every change (and, for the cache so far, as ADDED)."""
        self._handlers.append(handler)
        for obj in list(self._cache.values()):
            handler(ADDED, obj, None)

    def add_index(self, name: str, func: IndexFunc) -> None:
        """Maintain a secondary index ``name`` from ``func(obj)`` values to objects."""
        self._index_funcs[name] = func
        index: dict[str, set[str]] = {}
        for key, obj in self._cache.items():
            for value in func(obj):
                index.setdefault(value, set()).add(key)
        self._indexes[name] = index

    # --- cache maintenance ---------------------------------------------------------------

    def _unindex(self, key: str, obj: dict[str, Any]) -> None:
        for name, func in self._index_funcs.items():
            for value in func(obj):
                keys = self._indexes[name].get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del self._indexes[name][value]

    def _index(self, key: str, obj: dict[str, Any]) -> None:
        for name, func in self._index_funcs.items():
            for value in func(obj):
                self._indexes[name].setdefault(value, set()).add(key)

    def _store(self, event_type: str, obj: dict[str, Any]) -> None:
        entries = obj.get("metadata", {}).pop("managedFields", None) or ()
        if event_type != DELETED:
            obj = interning.compact(obj)
        key = key_of(obj)
        old = self._cache.get(key)
        if old is not None:
            self._unindex(key, old)
        if event_type == DELETED:
            self._cache.pop(key, None)
            self._managers.pop(key, None)
        else:
            self._cache[key] = obj
            self._index(key, obj)
            if entries:
                # NB: nearly every object has the same managers: keep one copy.
                summary = takeover.summarize(entries)
                self._managers[key] = self._summaries.setdefault(summary, summary)
            else:
                self._managers.pop(key, None)
        if event_type == MODIFIED and old is None:
            event_type = ADDED
        for handler in self._handlers:
            try:
                handler(event_type, obj, old)
            except Exception as error:  # a handler bug must not stop the informer
                self._log.error("event handler failed", error=error, key=key)

    # --- the loop ------------------------------------------------------------------------

    def _query(self) -> dict[str, str]:
        query: dict[str, str] = {}
        if self.scope.label_selector:
            query["labelSelector"] = self.scope.label_selector
        return query

    def _path(self) -> str:
        return self.resource.path(namespace=self.scope.namespace)

    async def _relist(self) -> None:
        seen: dict[str, dict[str, Any]] = {}
        continue_token = ""
        while True:
            query = {**self._query(), "limit": str(self._page_size)}
            if continue_token:
                query["continue"] = continue_token
            page = await self.api.request("GET", self._path(), query=query, verb="list")
            for item in page.get("items", []):
                item.setdefault("apiVersion", self.resource.api_version)
                item.setdefault("kind", self.resource.kind)
                seen[key_of(item)] = item
            metadata = page.get("metadata", {})
            continue_token = metadata.get("continue", "")
            if not continue_token:
                self.resource_version = metadata.get("resourceVersion", "")
                break
        for key in [k for k in self._cache if k not in seen]:
            self._store(DELETED, self._cache[key])
        for key, item in seen.items():
            previous = self._cache.get(key)
            if previous is None:
                self._store(ADDED, item)
            elif previous.get("metadata", {}).get("resourceVersion") != item["metadata"].get(
                "resourceVersion"
            ):
                self._store(MODIFIED, item)
        self.relists += 1
        self._synced.set()

    async def _watch(self) -> None:
        query = {
            **self._query(),
            "watch": "true",
            "allowWatchBookmarks": "true",
            "resourceVersion": self.resource_version,
            "timeoutSeconds": str(int(self._watch_timeout)),
        }
        async for event in self.api.stream(
            self._path(), query=query, request_timeout=self._watch_timeout + 30
        ):
            event_type = event.get("type")
            obj = event.get("object", {})
            if event_type == "ERROR":
                raise errors.from_status(int(obj.get("code") or 500), obj)
            version = obj.get("metadata", {}).get("resourceVersion")
            if version:
                self.resource_version = version
            if event_type in (ADDED, MODIFIED, DELETED):
                self._store(event_type, obj)

    async def _served(self) -> bool:
        """Whether discovery (asked afresh) still serves this informer's resource."""
        if self._discovery is None:
            return True
        self._discovery.forget(self.resource.api_version)
        try:
            await self._discovery.resolve(self.resource.api_version, self.resource.kind)
        except errors.NotFoundError:
            return False
        return True

    def _stop(self) -> None:
        for obj in list(self._cache.values()):
            self._store(DELETED, obj)
        self.stopped = True
        self._synced.set()
        self._log.info(
            "resource no longer served; informer stopped",
            kind=self.resource.kind,
            api_version=self.resource.api_version,
        )

    async def run(self) -> None:
        """List and watch until cancelled or the resource is gone (module docstring)."""
        failures = 0
        need_list = True
        while True:
            try:
                if need_list:
                    await self._relist()
                    need_list = False
                await self._watch()
                failures = 0
            except errors.GoneError:
                self._log.debug("watch expired; relisting")
                need_list = True
            except errors.KubeError as error:
                if isinstance(error, errors.NotFoundError) and not await self._served():
                    self._stop()
                    return
                failures += 1
                delay = min(self._max_backoff, 0.2 * 2 ** min(failures, 16))
                delay *= random.uniform(0.8, 1.2)
                self._log.info("watch failed; retrying", error=error, retry_in=round(delay, 2))
                await asyncio.sleep(delay)
