"""A small Kubernetes API client for the in-process controllers, plus informers.

The simulated kubelet and the garbage collector talk to the devcluster over its
own HTTP API, like kube-controller-manager talks to kube-apiserver, so they
depend on the REST contract only, never on the server's internals.

- ``Client``: JSON requests with the bearer token; non-2xx answers become
  ``ApiError`` carrying the Status object's code and reason.
- ``Informer``: list, then watch from the list's resourceVersion with bookmarks;
  relists on 410 Expired and re-watches after a dropped stream. Keeps a cache
  of (optionally transformed) objects and calls a handler for every change,
  including the deletions it infers on a relist.
- ``WorkQueue``: de-duplicating keys, delayed adds, one worker per key at a time.
- ``run_until_stopped``: a controller's informers and queue workers, cancelled
  when ``stop`` is set.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import json
import ssl as ssl_module
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterable
from typing import Any, Generic, TypeVar

import aiohttp
import structlog

from devcluster.serializers import encoding

Obj = dict[str, Any]
T = TypeVar("T")
K = TypeVar("K", bound=Hashable)

_log = structlog.get_logger("devcluster.controllers")


class ApiError(Exception):
    """A non-2xx answer; ``reason`` is the Status reason when the server sent one."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


@dataclasses.dataclass(frozen=True)
class Gvr:
    """A served resource: where its objects live in the REST tree."""

    group: str
    version: str
    plural: str
    namespaced: bool
    kind: str = ""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str = ""
    ) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
            if subresource:
                base += f"/{subresource}"
        return base


class Client:
    """JSON over HTTP to one API server, as one field manager."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        token: str | None,
        field_manager: str,
    ) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self._headers = {"Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self.field_manager = field_manager

    def with_manager(self, field_manager: str) -> Client:
        return Client(
            self._session,
            base_url=self._base,
            token=self._headers.get("Authorization", "").removeprefix("Bearer ") or None,
            field_manager=field_manager,
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Obj:
        headers = dict(self._headers)
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = encoding.to_json(body)
        async with self._session.request(
            method, self._base + path, params=params, data=data, headers=headers
        ) as response:
            raw = await response.read()
            if response.status >= 300:
                raise _error(response.status, raw.decode(errors="replace"))
            result: Obj = encoding.from_json(raw) if raw else {}
            return result

    async def get(self, path: str) -> Obj | None:
        """The object, or ``None`` when it does not exist."""
        try:
            return await self.request("GET", path)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def create(self, path: str, obj: Obj) -> Obj | None:
        """The created object, or ``None`` when one of that name already exists."""
        try:
            return await self.request(
                "POST", path, params={"fieldManager": self.field_manager}, body=obj
            )
        except ApiError as exc:
            if exc.status == 409 and exc.reason == "AlreadyExists":
                return None
            raise

    async def merge_patch(self, path: str, patch: Obj) -> Obj | None:
        """The patched object, or ``None`` when it is gone. Conflicts raise."""
        try:
            return await self.request(
                "PATCH",
                path,
                params={"fieldManager": self.field_manager},
                body=patch,
                content_type="application/merge-patch+json",
            )
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def delete(
        self, path: str, *, propagation: str | None = None, uid: str | None = None
    ) -> bool:
        """Delete; ``False`` when it was already gone (or its uid changed)."""
        options: Obj = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation:
            options["propagationPolicy"] = propagation
        if uid:
            options["preconditions"] = {"uid": uid}
        try:
            await self.request("DELETE", path, body=options)
        except ApiError as exc:
            if exc.status == 404 or (exc.status == 409 and uid is not None):
                return False
            raise
        return True

    async def watch(self, path: str, params: dict[str, str]) -> AsyncIterator[Obj]:
        """The events of one watch request until the server ends it."""
        query = {"watch": "true", **params}
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        async with self._session.get(
            self._base + path, params=query, headers=self._headers, timeout=timeout
        ) as response:
            if response.status >= 300:
                raise _error(response.status, await response.text())
            async for line in response.content:
                if line.strip():
                    event: Obj = encoding.from_json(line)
                    yield event


def _error(status: int, text: str) -> ApiError:
    try:
        body = json.loads(text)
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    return ApiError(status, str(body.get("reason", "")), str(body.get("message", text[:200])))


def ssl_context(ssl: ssl_module.SSLContext | bool | None) -> ssl_module.SSLContext | bool:
    """aiohttp's ``ssl`` argument: a context, ``False`` (no verification) or default."""
    return True if ssl is None else ssl


def object_key(obj: Obj) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


Handler = Callable[[str, T, T | None], None]


class Informer(Generic[T]):
    """A list+watch cache of one resource across all namespaces.

    ``transform`` turns each object into what the cache keeps (the garbage
    collector keeps only a small record). Each handler ``(type, new, old)`` runs
    synchronously for ADDED, MODIFIED and DELETED, with ``old`` the cached
    value before the change; ``add_handler`` lets a second controller share
    the watch instead of opening its own.
    """

    def __init__(
        self,
        client: Client,
        gvr: Gvr,
        *,
        transform: Callable[[Obj], T],
        handler: Handler[T],
    ) -> None:
        self.client = client
        self.gvr = gvr
        self.cache: dict[tuple[str, str], T] = {}
        self.synced = asyncio.Event()
        self._transform = transform
        self._handlers = [handler]

    def add_handler(self, handler: Handler[T]) -> None:
        """Also call ``handler``; it first sees the cached objects as ADDED."""
        self._handlers.append(handler)
        for value in list(self.cache.values()):
            handler("ADDED", value, None)

    async def run(self, stop: asyncio.Event) -> None:
        backoff = 0.05
        version = ""
        while not stop.is_set():
            try:
                if not version:
                    version = await self._relist()
                    self.synced.set()
                version = await self._watch(version)
                backoff = 0.05
            except ApiError as exc:
                if exc.status == 404:
                    return  # the resource is no longer served (CRD deleted)
                if exc.status == 410:
                    version = ""
                    continue
                _log.warning("informer.error", resource=self.gvr.plural, error=str(exc))
                version = ""
                await _sleep(stop, backoff)
                backoff = min(backoff * 2, 2.0)
            except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
                if stop.is_set():
                    return
                _log.debug("informer.disconnected", resource=self.gvr.plural, error=str(exc))
                await _sleep(stop, backoff)
                backoff = min(backoff * 2, 2.0)

    async def _relist(self) -> str:
        listing = await self.client.request("GET", self.gvr.path())
        seen: set[tuple[str, str]] = set()
        for item in listing.get("items") or []:
            self._apply("ADDED", item)
            seen.add(object_key(item))
        for key in [k for k in self.cache if k not in seen]:
            old = self.cache.pop(key)
            for handler in self._handlers:
                handler("DELETED", old, old)
        return str((listing.get("metadata") or {}).get("resourceVersion") or "")

    async def _watch(self, version: str) -> str:
        params = {
            "resourceVersion": version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": "300",
        }
        async for event in self.client.watch(self.gvr.path(), params):
            kind = event.get("type")
            obj = event.get("object") or {}
            if kind == "ERROR":
                raise ApiError(int(obj.get("code") or 500), str(obj.get("reason", "")), "")
            version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
            if kind in ("ADDED", "MODIFIED", "DELETED"):
                self._apply(str(kind), obj)
        return version

    def _apply(self, kind: str, obj: Obj) -> None:
        key = object_key(obj)
        old = self.cache.get(key)
        new = self._transform(obj)
        if kind == "DELETED":
            self.cache.pop(key, None)
        else:
            self.cache[key] = new
            if old is None:
                kind = "ADDED"
        for handler in self._handlers:
            handler(kind, new, old)


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


class WorkQueue(Generic[K]):
    """Keys to reconcile: de-duplicated, delayable, never two workers on one key."""

    def __init__(self) -> None:
        self._ready: collections.deque[K] = collections.deque()
        self._queued: set[K] = set()
        self._active: set[K] = set()
        self._dirty: set[K] = set()
        self._wakeup = asyncio.Event()
        self._timers: set[asyncio.TimerHandle] = set()

    def add(self, key: K) -> None:
        if key in self._active:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._ready.append(key)
            self._wakeup.set()

    def add_after(self, key: K, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle

        def fire() -> None:
            self._timers.discard(handle)
            self.add(key)

        handle = loop.call_later(delay, fire)
        self._timers.add(handle)

    async def run(
        self, reconcile: Callable[[K], Awaitable[None]], *, workers: int, stop: asyncio.Event
    ) -> None:
        try:
            await asyncio.gather(*(self._worker(reconcile, stop) for _ in range(workers)))
        finally:
            for handle in self._timers:
                handle.cancel()

    async def _worker(self, reconcile: Callable[[K], Awaitable[None]], stop: asyncio.Event) -> None:
        while not stop.is_set():
            if not self._ready:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            key = self._ready.popleft()
            self._queued.discard(key)
            self._active.add(key)
            try:
                await reconcile(key)
            except ApiError as exc:
                # Conflicts and races resolve on the next event; retry soon anyway.
                _log.debug("reconcile.api_error", key=str(key), error=str(exc))
                self.add_after(key, 0.2)
            except (TimeoutError, aiohttp.ClientError) as exc:
                _log.debug("reconcile.disconnected", key=str(key), error=str(exc))
                self.add_after(key, 0.5)
            except Exception:
                _log.exception("reconcile.failed", key=str(key))
                self.add_after(key, 1.0)
            finally:
                self._active.discard(key)
                if key in self._dirty:
                    self._dirty.discard(key)
                    self.add(key)


async def run_until_stopped(
    informers: Iterable[Informer[Any]],
    queue: WorkQueue[K],
    reconcile: Callable[[K], Awaitable[None]],
    *,
    workers: int,
    stop: asyncio.Event,
) -> None:
    """Run ``informers`` and ``workers`` workers of ``queue`` until ``stop`` is set."""
    tasks = [asyncio.create_task(informer.run(stop)) for informer in informers]
    tasks.append(asyncio.create_task(queue.run(reconcile, workers=workers, stop=stop)))
    try:
        await stop.wait()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
