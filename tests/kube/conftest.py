"""Fixtures of the kube-layer tests that need an API server.

``cluster`` is a devcluster per test module (modules do not share state through
it); ``api`` is a connected ``shared.kube.client.Client`` on it, one per test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from shared.kube import client
from tests.fixtures import devcluster as devcluster_fixtures


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[devcluster_fixtures.Devcluster]:
    with devcluster_fixtures.start_devcluster(tmp_path_factory.mktemp("kube")) as running:
        yield running


@pytest.fixture
async def api(cluster: devcluster_fixtures.Devcluster) -> AsyncIterator[client.Client]:
    async with client.connected(kubeconfig=str(cluster.kubeconfig)) as connected:
        yield connected
