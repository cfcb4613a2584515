"""Fixtures of the devcluster tests: the shared server, an HTTP session on it, a namespace each."""

from __future__ import annotations

import atexit
import itertools
import json
import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

from tests.fixtures import apihttp
from tests.fixtures import devcluster as devcluster_fixtures

# NB: Helm's client (loaded in-process by test_helm) caches discovery per
# host:port under $KUBECACHEDIR, and reads it back for ten minutes. Test ports
# are reused across runs, so a cache left by an earlier run would describe
# another server; a directory of this run's own avoids that. It must be set
# before the Helm library loads, which reads the environment once.
_HELM_CACHE = tempfile.mkdtemp(prefix="headwater-kube-cache-")
os.environ["KUBECACHEDIR"] = _HELM_CACHE
atexit.register(shutil.rmtree, _HELM_CACHE, True)

devcluster = devcluster_fixtures.devcluster
http = apihttp.http
_counter = itertools.count()


@pytest.fixture
def namespace(devcluster: devcluster_fixtures.Devcluster) -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards."""
    name = f"t{next(_counter)}"
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    devcluster.kubectl("create", "-f", "-", input=json.dumps(body))
    yield name
    devcluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
