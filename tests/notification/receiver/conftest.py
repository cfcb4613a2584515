"""Receiver fixtures: a cluster with the CRDs, a namespace, the Receiver set-up in-process."""

from __future__ import annotations

import itertools
import pathlib
from collections.abc import AsyncIterator, Iterator

import pytest

from shared.kube import applying, client, resources
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures.receivers import Cluster, Receivers, running_receivers

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


@pytest.fixture
async def kube(cluster: devcluster_fixtures.Devcluster, namespace: str) -> AsyncIterator[Cluster]:
    async with client.connected(kubeconfig=str(cluster.kubeconfig)) as api:
        yield Cluster(api, applying.Objects(api=api, discovery=resources.Discovery(api)), namespace)


@pytest.fixture
async def receivers(kube: Cluster) -> AsyncIterator[Receivers]:
    async with running_receivers(kube) as running:
        yield running
