"""Fixtures the source-controller tests share.

- ``store``: an artifact store under the test's temporary directory
  (retention: one minute, two records);
- ``api``: a client of the module's ``cluster`` (a devcluster the module starts);
- ``oci``: a ``shared.oci`` client of the module's plain-HTTP ``registry``.
"""

from __future__ import annotations

import datetime
import pathlib
from collections.abc import AsyncIterator

import aiohttp
import pytest

from shared.artifacts import storage
from shared.kube import client
from shared.oci import client as oci_client
from shared.oci import tokens, transport
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures import registry as registry_fixtures


@pytest.fixture
def store(tmp_path: pathlib.Path) -> storage.Storage:
    return storage.Storage(
        tmp_path / "storage",
        advertised_address="source-controller.flux-system.svc",
        retention=storage.RetentionPolicy(ttl=datetime.timedelta(minutes=1), records=2),
    )


@pytest.fixture
async def api(cluster: devcluster_fixtures.Devcluster) -> AsyncIterator[client.Client]:
    async with client.connected(kubeconfig=str(cluster.kubeconfig)) as connected:
        yield connected


@pytest.fixture
async def oci(registry: registry_fixtures.Registry) -> AsyncIterator[oci_client.Client]:
    connection = transport.Connection(host=registry.host, plain_http=True)
    async with aiohttp.ClientSession() as session:
        yield oci_client.Client(session, connection, token_cache=tokens.TokenCache())
