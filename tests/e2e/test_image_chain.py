"""The whole image loop as processes: a tag pushed to a registry ends up running in the cluster.

registry → image-reflector-controller (ImageRepository scan, ImagePolicy
election) → image-automation-controller (setter commit pushed to Git) →
source-controller (new artifact) → kustomize-controller (the Deployment
applied with the new image). Nothing is patched by hand between the steps:
each controller reacts to the one before it through the API and Git only.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.e2e import objects
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures import gitservers, processes
from tests.fixtures import registry as registry_fixtures
from tests.fixtures.polling import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
registry = registry_fixtures.registry
IMAGE_API = "image.toolkit.fluxcd.io/v1"
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: IMAGE:1.0.0 # {"$imagepolicy": "NS:web"}
"""


@pytest.fixture
def controllers(
    cluster: devcluster_fixtures.Devcluster, namespace: str, tmp_path: pathlib.Path
) -> Iterator[None]:
    """The four controllers of the loop, watching the test's namespace."""
    kubeconfig = cluster.kubeconfig
    with (
        processes.start_source_controller(
            kubeconfig, namespace, tmp_path, devcluster_fixtures.free_port()
        ),
        processes.start_watching("controllers.kustomize", kubeconfig, namespace, tmp_path),
        processes.start_watching(
            "controllers.image_reflector", kubeconfig, namespace, tmp_path,
            "--storage-path", str(tmp_path / "tags"),
        ),
        processes.start_watching("controllers.image_automation", kubeconfig, namespace, tmp_path),
    ):  # fmt: skip
        yield


def _objects(namespace: str, image: str, url: str) -> list[dict[str, Any]]:
    """GitRepository and Kustomization of ``url``; ImageRepository, ImagePolicy and
    ImageUpdateAutomation for ``image``. Only the scans and the Git polls have short
    intervals: every later step is started by the change before it."""
    meta = {"namespace": namespace}
    return [
        {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
         "metadata": {"name": "apps", **meta},
         "spec": {"url": url, "interval": "2s", "ref": {"branch": "master"}}},
        {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
         "metadata": {"name": "apps", **meta},
         "spec": {"interval": "1h", "path": "./deploy", "prune": True,
                  "targetNamespace": namespace,
                  "sourceRef": {"kind": "GitRepository", "name": "apps"}}},
        {"apiVersion": IMAGE_API, "kind": "ImageRepository", "metadata": {"name": "web", **meta},
         "spec": {"image": image, "interval": "2s", "insecure": True}},
        {"apiVersion": IMAGE_API, "kind": "ImagePolicy", "metadata": {"name": "web", **meta},
         "spec": {"imageRepositoryRef": {"name": "web"},
                  "policy": {"semver": {"range": "1.x"}}}},
        {"apiVersion": IMAGE_API, "kind": "ImageUpdateAutomation",
         "metadata": {"name": "apps", **meta},
         "spec": {"interval": "1h",
                  "sourceRef": {"kind": "GitRepository", "name": "apps"},
                  "git": {"commit": {"author": {"name": "Flux", "email": "flux@example.com"}}},
                  "update": {"strategy": "Setters", "path": "./deploy"}}},
    ]  # fmt: skip


def _running_image(cluster: devcluster_fixtures.Devcluster, namespace: str) -> str | None:
    deployment = objects.get(cluster, namespace, "deployment", "web")
    if deployment is None:
        return None
    image: str = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    return image


def _applied(cluster: devcluster_fixtures.Devcluster, namespace: str) -> str | None:
    kustomization = objects.get(cluster, namespace, "kustomization", "apps")
    revision: str | None = ((kustomization or {}).get("status") or {}).get("lastAppliedRevision")
    return revision


@pytest.mark.usefixtures("controllers")
def test_a_pushed_tag_is_committed_fetched_and_applied(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    registry: registry_fixtures.Registry,
    make_repo: Callable[..., gitservers.RepoBuilder],
    http_server: gitservers.GitServer,
) -> None:
    image = f"{registry.host}/{namespace}/web"
    registry_fixtures.push(registry, f"{namespace}/web", ["1.0.0"])
    repo = make_repo("apps.git")
    initial = repo.commit(
        "initial", {"deploy/web.yaml": DEPLOYMENT.replace("IMAGE", image).replace("NS", namespace)}
    )
    for manifest in _objects(namespace, image, http_server.url("apps.git")):
        objects.apply(cluster, manifest)

    # The policy elects the tag already in Git: nothing to commit, the file is applied as is.
    eventually_sync(
        lambda: _running_image(cluster, namespace) == f"{image}:1.0.0",
        within=90, message="the initial Deployment is applied",
    )  # fmt: skip
    assert _applied(cluster, namespace) == f"master@sha1:{initial}"
    eventually_sync(
        lambda: (objects.get(cluster, namespace, "imageupdateautomation", "apps") or {})
        .get("status", {}).get("lastAutomationRunTime"),
        within=60, message="the automation ran once",
    )  # fmt: skip
    assert repo.rev("master") == initial

    registry_fixtures.push(registry, f"{namespace}/web", ["1.1.0", "2.0.0"])
    eventually_sync(
        lambda: _running_image(cluster, namespace) == f"{image}:1.1.0",
        within=120, message="the pushed tag runs in the cluster",
    )  # fmt: skip
    pushed = repo.rev("master")
    assert repo.git("rev-parse", f"{pushed}~1") == initial
    assert repo.git("show", f"{pushed}:deploy/web.yaml") == (
        DEPLOYMENT.replace("IMAGE", image).replace("NS", namespace).replace(":1.0.0", ":1.1.0")
    ).rstrip("\n")
    eventually_sync(
        lambda: _applied(cluster, namespace) == f"master@sha1:{pushed}",
        within=30, message="the Kustomization records the pushed commit",
    )  # fmt: skip
    eventually_sync(
        lambda: (objects.get(cluster, namespace, "imageupdateautomation", "apps") or {})
        .get("status", {}).get("lastPushCommit") == pushed,
        within=30, message="the automation records its push",
    )  # fmt: skip
    policy = objects.get(cluster, namespace, "imagepolicy", "web")
    assert policy is not None
    assert policy["status"]["latestRef"]["tag"] == "1.1.0"
