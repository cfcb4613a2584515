"""The release storage read from a real informer of storage Secrets (``helmrelease.caching``)."""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
from collections.abc import AsyncIterator
from typing import Any

from controllers.helm import snapshots
from controllers.helm.engine import engine
from controllers.helm.helmrelease import caching
from shared.kube import client, resources
from shared.runtime import informers
from tests.fixtures.polling import eventually
from tests.helm.engine.test_installing import install_request


@contextlib.asynccontextmanager
async def _stored(api: client.Client, namespace: str) -> AsyncIterator[caching.StoredReleases]:
    resource = await resources.Discovery(api).resolve("v1", "Secret")
    cache = informers.Informer(
        api=api, resource=resource, scope=informers.Scope(namespace=namespace)
    )
    cache.add_index(caching.RELEASE_INDEX, caching.release_key)
    task = asyncio.create_task(cache.run())

    async def started() -> informers.Informer:
        return cache

    try:
        await asyncio.wait_for(cache.wait_synced(), timeout=30)
        yield caching.StoredReleases(started)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_no_history_recorded_and_none_cached_is_an_empty_history(
    namespace: str, api: client.Client, helm_engine: engine.Engine, chart_dir: pathlib.Path
) -> None:
    async with _stored(api, namespace) as stored:
        assert await stored.history(namespace, "demo", recorded=None) == []

        record = await helm_engine.install(install_request(namespace, chart_dir))

        async def cached() -> bool | None:
            # NB: a revision in the cache that the HelmRelease never recorded may be
            # anyone's: storage must be read.
            return await stored.history(namespace, "demo", recorded=None) is None or None

        await eventually(cached, within=10)
        snapshot = snapshots.observe(record, action="install", oci_digest=None)

        async def recorded() -> list[Any] | None:
            # NB: the cache may still hold the pending revision before the update.
            return await stored.history(namespace, "demo", recorded=snapshot)

        found = await eventually(recorded, within=10)
        assert [(r.version, r.status) for r in found] == [(1, record.status)]
