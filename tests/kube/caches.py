"""A ``resourcemanager.LiveSource`` built from the runtime's informers, for tests and benchmarks.

One informer per kind, watching objects that carry an owner-name label;
``close`` cancels their tasks. (In the controller the manager's shared
informers play this part.)
"""

from __future__ import annotations

import asyncio
import contextlib

from shared.kube import client, resources
from shared.runtime import informers


class InformerCaches:
    """Starts an informer per (apiVersion, kind) on first use."""

    def __init__(
        self,
        *,
        api: client.Client,
        discovery: resources.Discovery,
        label_selector: str = "kustomize.toolkit.fluxcd.io/name",
    ) -> None:
        self._api = api
        self._discovery = discovery
        self._scope = informers.Scope(label_selector=label_selector)
        self._informers: dict[tuple[str, str], informers.Informer] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()

    async def __call__(self, api_version: str, kind: str) -> informers.Informer:
        found = self._informers.get((api_version, kind))
        if found is not None and not found.stopped:
            return found
        # NB: many objects of a new kind ask at once; one informer must serve them all.
        async with self._lock:
            found = self._informers.get((api_version, kind))
            if found is None or found.stopped:
                resource = await self._discovery.resolve(api_version, kind)
                found = informers.Informer(
                    api=self._api, resource=resource, scope=self._scope, discovery=self._discovery
                )
                self._informers[(api_version, kind)] = found
                self._tasks.append(asyncio.create_task(found.run()))
        return found

    def informer(self, api_version: str, kind: str) -> informers.Informer:
        return self._informers[(api_version, kind)]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
