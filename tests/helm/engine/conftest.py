"""Fixtures of the engine tests: a devcluster per module; per test a namespace, clients, a chart.

``helm_config`` is the real Helm SDK on the same namespace: the tests use it
to prove that Helm reads and manages what the engine stores, and that the
engine takes over what Helm stored. ``helm_engine`` is an Engine storing in the
test's namespace and ``chart_dir`` the demo chart (``democharts.DEMO``).
"""

from __future__ import annotations

import atexit
import itertools
import json
import os
import pathlib
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator

import helm_python as helm
import pytest

from controllers.helm.engine import engine, storage
from shared.kube import client
from tests.fixtures import democharts
from tests.fixtures import devcluster as devcluster_fixtures

# NB: Helm's client caches discovery per host:port under $KUBECACHEDIR and
# reads it back for ten minutes; test ports are reused across runs, so a
# directory of this run's own keeps another server's discovery out. It must
# be set before the Helm library loads, which reads the environment once.
_HELM_CACHE = tempfile.mkdtemp(prefix="headwater-kube-cache-")
os.environ.setdefault("KUBECACHEDIR", _HELM_CACHE)
atexit.register(shutil.rmtree, _HELM_CACHE, True)

Devcluster = devcluster_fixtures.Devcluster
devcluster = devcluster_fixtures.devcluster
_counter = itertools.count()


@pytest.fixture
def namespace(devcluster: Devcluster) -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards."""
    name = f"e{next(_counter)}"
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    devcluster.kubectl("create", "-f", "-", input=json.dumps(body))
    yield name
    devcluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
async def api(devcluster: Devcluster) -> AsyncIterator[client.Client]:
    async with client.connected(kubeconfig=str(devcluster.kubeconfig)) as connected:
        yield connected


@pytest.fixture
def helm_config(devcluster: Devcluster, namespace: str) -> Iterator[helm.Config]:
    with helm.Config(kubeconfig_path=devcluster.kubeconfig, namespace=namespace) as config:
        yield config


@pytest.fixture
def store(api: client.Client, namespace: str) -> storage.ReleaseStore:
    return storage.ReleaseStore(api, namespace)


@pytest.fixture
def helm_engine(api: client.Client, store: storage.ReleaseStore) -> engine.Engine:
    return engine.Engine(api, store, poll_interval=0.2)


@pytest.fixture
def chart_dir(tmp_path: pathlib.Path) -> pathlib.Path:
    return democharts.write(tmp_path / "demo")
