"""Fixtures of the engine tests: a devcluster per module, a namespace and clients per test.

``helm_config`` is the real Helm SDK on the same namespace: the tests use it
to prove that Helm reads and manages what the engine stores, and that the
engine takes over what Helm stored. ``chart_dir`` writes a chart from a dict
of file name → text (``charts.DEMO`` by default).
"""

from __future__ import annotations

import atexit
import itertools
import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator

import helm_python as helm
import pytest

from shared.kube import client
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
