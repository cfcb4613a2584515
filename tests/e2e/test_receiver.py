"""A github Receiver in front of a real source-controller: a signed push fetches at once."""

from __future__ import annotations

import pathlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from controllers.notification.receiver import signatures
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures import processes
from tests.fixtures.gitservers import GitServer, RepoBuilder
from tests.fixtures.polling import eventually
from tests.fixtures.receivers import Cluster, connected_cluster, running_receivers

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SOURCE_API = "source.toolkit.fluxcd.io/v1"
TOKEN = "e2e-webhook-token"
PUSH = b'{"ref": "refs/heads/master"}'


@pytest.fixture
def source_controller(
    cluster: devcluster_fixtures.Devcluster, namespace: str, tmp_path: pathlib.Path
) -> Iterator[processes.Controller]:
    with processes.start_source_controller(
        cluster.kubeconfig, namespace, tmp_path, devcluster_fixtures.free_port()
    ) as running:
        yield running


@pytest.fixture
async def kube(cluster: devcluster_fixtures.Devcluster, namespace: str) -> AsyncIterator[Cluster]:
    async with connected_cluster(cluster, namespace) as connected:
        yield connected


def _signed(body: bytes, token: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-Hub-Signature-256": signatures.sign(body, token.encode()),
    }


async def _repository(kube: Cluster) -> dict[str, Any]:
    obj = await kube.get(SOURCE_API, "GitRepository", "app")
    assert obj is not None
    return obj


async def _revision(kube: Cluster) -> str | None:
    artifact = ((await _repository(kube)).get("status") or {}).get("artifact") or {}
    revision: str | None = artifact.get("revision")
    return revision


async def test_a_signed_push_fetches_the_new_commit_at_once_and_a_bad_one_changes_nothing(
    kube: Cluster,
    source_controller: processes.Controller,
    make_repo: Callable[..., RepoBuilder],
    http_server: GitServer,
) -> None:
    repo = make_repo("app.git")
    first = repo.commit("First", {"a.txt": "1"})
    await kube.apply(
        {
            "apiVersion": SOURCE_API,
            "kind": "GitRepository",
            "metadata": {"name": "app"},
            # NB: an hour: only the webhook can make the second commit show up in time.
            "spec": {"interval": "1h", "url": http_server.url("app.git")},
        }
    )
    await kube.apply(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "token"},
         "stringData": {"token": TOKEN}}
    )  # fmt: skip
    await kube.apply(
        {
            "apiVersion": "notification.toolkit.fluxcd.io/v1",
            "kind": "Receiver",
            "metadata": {"name": "github"},
            "spec": {
                "type": "github",
                "events": ["push"],
                "secretRef": {"name": "token"},
                "resources": [{"kind": "GitRepository", "name": "app"}],
            },
        }
    )
    await eventually(
        lambda: _revision(kube), within=60, message=f"no artifact:\n{source_controller.output()}"
    )
    assert await _revision(kube) == f"master@sha1:{first}"
    second = repo.commit("Second", {"a.txt": "2"})

    async with running_receivers(kube) as receivers:

        async def webhook_path() -> str | None:
            obj = await kube.get("notification.toolkit.fluxcd.io/v1", "Receiver", "github")
            path: str | None = ((obj or {}).get("status") or {}).get("webhookPath")
            return path

        path = await eventually(webhook_path, within=20)
        await eventually(lambda: receivers.serves(path), within=10)
        assert await receivers.post(path, PUSH, _signed(PUSH, "not-the-token")) == 400
        refused = await _repository(kube)
        assert "reconcile.fluxcd.io/requestedAt" not in (
            refused["metadata"].get("annotations") or {}
        )
        assert await receivers.post(path, PUSH, _signed(PUSH, TOKEN)) == 200

    async def fetched() -> bool:
        return await _revision(kube) == f"master@sha1:{second}"

    await eventually(fetched, within=30, message=f"not fetched:\n{source_controller.output()}")
    obj = await _repository(kube)
    requested = obj["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"]
    assert obj["status"]["lastHandledReconcileAt"] == requested
