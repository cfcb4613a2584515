"""Receiver fixtures: a cluster with Headwater's CRDs and the Receiver set-up running in-process.

``receivers`` runs a manager with ``wiring.setup`` (the Receiver controller
and the webhook server on a free port) for one namespace, in the test's
event loop; ``Cluster`` writes and reads objects through the project's
client, so the loop is never blocked by a kubectl subprocess.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import pathlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from controllers.notification.receiver import server, wiring
from shared.kube import applying, client, errors, resources
from shared.runtime import manager, options
from tests.fixtures import devcluster as devcluster_fixtures

kube_cluster = devcluster_fixtures.kube_cluster
CRDS = pathlib.Path(__file__).resolve().parents[3] / "crds"
_names = itertools.count()


@pytest.fixture(scope="module")
def cluster(kube_cluster: devcluster_fixtures.Devcluster) -> devcluster_fixtures.Devcluster:
    """The test cluster with every Headwater CRD established."""
    kube_cluster.kubectl("apply", "--server-side", "-f", str(CRDS))
    kube_cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    return kube_cluster


@pytest.fixture
def namespace(cluster: devcluster_fixtures.Devcluster) -> Iterator[str]:
    name = f"rcv{next(_names)}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@dataclasses.dataclass
class Cluster:
    """Objects of one test, through the project's client."""

    api: client.Client
    objects: applying.Objects
    namespace: str

    async def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        obj["metadata"].setdefault("namespace", self.namespace)
        return await self.objects.apply(obj, field_manager="test", force=True)

    async def get(self, api_version: str, kind: str, name: str) -> dict[str, Any] | None:
        try:
            return await self.objects.get(api_version, kind, name, namespace=self.namespace)
        except errors.NotFoundError:
            return None


@pytest.fixture
async def kube(cluster: devcluster_fixtures.Devcluster, namespace: str) -> AsyncIterator[Cluster]:
    async with client.connected(kubeconfig=str(cluster.kubeconfig)) as api:
        yield Cluster(api, applying.Objects(api=api, discovery=resources.Discovery(api)), namespace)


@dataclasses.dataclass
class Receivers:
    """The running Receiver set-up: its manager, handler and webhook base URL."""

    mgr: manager.Manager
    handler: server.Handler
    url: str
    session: aiohttp.ClientSession

    async def post(
        self, path: str, body: bytes = b"{}", headers: dict[str, str] | None = None
    ) -> int:
        async with self.session.post(self.url + path, data=body, headers=headers) as response:
            return response.status


@contextlib.asynccontextmanager
async def running_receivers(
    kube: Cluster, *, no_cross_namespace_refs: bool = False
) -> AsyncIterator[Receivers]:
    """A manager with the Receiver set-up for ``kube.namespace``, stopped on exit."""
    addr = f"127.0.0.1:{devcluster_fixtures.free_port()}"
    opts = options.Options(
        metrics_addr=f"127.0.0.1:{devcluster_fixtures.free_port()}",
        health_addr=f"127.0.0.1:{devcluster_fixtures.free_port()}",
        watch_all_namespaces=False,
        runtime_namespace=kube.namespace,
        no_cross_namespace_refs=no_cross_namespace_refs,
        instance=f"test-{next(_names)}",
    )
    mgr = manager.Manager(name="notification-controller", opts=opts, api=kube.api)
    handler = await wiring.setup(mgr, flags=wiring.Flags(receiverAddr=addr))
    task = asyncio.create_task(mgr.run())
    try:
        async with aiohttp.ClientSession() as session:
            yield Receivers(mgr, handler, f"http://{addr}", session)
    finally:
        mgr.stop()
        await asyncio.wait_for(task, timeout=30)


@pytest.fixture
async def receivers(kube: Cluster) -> AsyncIterator[Receivers]:
    async with running_receivers(kube) as running:
        yield running
