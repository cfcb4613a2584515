"""End-to-end fixtures: a devcluster with Headwater's CRDs, a Git server, a namespace."""

from __future__ import annotations

import itertools
import pathlib
from collections.abc import Iterator

import pytest

from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures.gitservers import (  # noqa: F401 - pytest fixtures
    git_root,
    http_server,
    make_repo,
    start_http,
)

CRDS = pathlib.Path(__file__).resolve().parents[2] / "crds"
_names = itertools.count()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[devcluster_fixtures.Devcluster]:
    """A devcluster (one per module) with every Headwater CRD established."""
    with devcluster_fixtures.start_devcluster(tmp_path_factory.mktemp("e2e")) as running:
        running.kubectl("apply", "--server-side", "-f", str(CRDS))
        running.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        yield running


@pytest.fixture
def namespace(cluster: devcluster_fixtures.Devcluster) -> Iterator[str]:
    name = f"e2e{next(_names)}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
