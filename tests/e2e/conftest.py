"""End-to-end fixtures: a cluster with Headwater's CRDs, a Git server, a namespace.

Set ``HEADWATER_TEST_KUBECONFIG`` to run the end-to-end tests against a real cluster.
"""

from __future__ import annotations

import itertools
import pathlib
from collections.abc import Iterator

import pytest

from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures.gitservers import (  # noqa: F401 - pytest fixtures
    git_root,
    gpg_key,
    http_server,
    make_repo,
    sshd,
    start_http,
)

kube_cluster = devcluster_fixtures.kube_cluster
CRDS = pathlib.Path(__file__).resolve().parents[2] / "crds"
_names = itertools.count()


@pytest.fixture(scope="module")
def cluster(
    kube_cluster: devcluster_fixtures.Devcluster,
) -> devcluster_fixtures.Devcluster:
    """The test cluster (see ``kube_cluster``) with every Headwater CRD established."""
    kube_cluster.kubectl("apply", "--server-side", "-f", str(CRDS))
    kube_cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    return kube_cluster


@pytest.fixture
def namespace(cluster: devcluster_fixtures.Devcluster) -> Iterator[str]:
    name = f"e2e{next(_names)}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
