"""Receiver fixtures: the end-to-end cluster and namespace, the Receiver set-up in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.e2e.conftest import cluster, kube_cluster, namespace
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures.receivers import Cluster, Receivers, connected_cluster, running_receivers

__all__ = ["cluster", "kube_cluster", "namespace"]


@pytest.fixture
async def kube(cluster: devcluster_fixtures.Devcluster, namespace: str) -> AsyncIterator[Cluster]:
    async with connected_cluster(cluster, namespace) as connected:
        yield connected


@pytest.fixture
async def receivers(kube: Cluster) -> AsyncIterator[Receivers]:
    async with running_receivers(kube) as running:
        yield running
