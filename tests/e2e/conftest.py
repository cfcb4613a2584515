"""End-to-end fixtures: a cluster with Headwater's CRDs, a Git server, a namespace.

Set ``HEADWATER_TEST_KUBECONFIG`` to run the end-to-end tests against a real cluster.
"""

from __future__ import annotations

import itertools
import pathlib
from collections.abc import Iterator

import pytest

from tests.fixtures import clusters
from tests.fixtures.gitservers import (  # noqa: F401 - pytest fixtures
    git_root,
    http_server,
    make_repo,
    start_http,
)

CRDS = pathlib.Path(__file__).resolve().parents[2] / "crds"
_names = itertools.count()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[clusters.Cluster]:
    """A cluster (one per module; see ``clusters``) with every Headwater CRD established."""
    with clusters.test_cluster(tmp_path_factory.mktemp("e2e")) as running:
        running.kubectl("apply", "--server-side", "-f", str(CRDS))
        running.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        yield running


@pytest.fixture
def namespace(cluster: clusters.Cluster) -> Iterator[str]:
    name = f"e2e{next(_names)}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
