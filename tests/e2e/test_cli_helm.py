"""The headwater command on HelmReleases, as a subprocess, beside real controllers.

source-, kustomize- and helm-controller run as processes watching the test's
namespace. A Kustomization applies a HelmRepository and a HelmRelease from
Git; the chart comes from a chart repository on 127.0.0.1. ``tree`` reads
what the HelmRelease applied from Helm's storage, ``trace`` follows the
objects' owner labels to the HelmRelease and its chart's source, and
``reconcile hr --force`` waits for helm-controller's new release.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Callable, Iterator

import pytest

from tests.e2e import objects
from tests.e2e.test_cli import Headwater, _ok, headwater  # noqa: F401 - a pytest fixture
from tests.e2e.test_helm_controller import (
    _helm_controller,
    repo,  # noqa: F401 - a pytest fixture
)
from tests.e2e.test_kustomize_controller import (  # noqa: F401 - pytest fixtures
    controllers,
    kustomize_flags,
)
from tests.fixtures import chartrepos, processes
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures.gitservers import GitServer, RepoBuilder

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RELEASE = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: charts
spec:
  interval: 1h
  url: {url}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: demo
spec:
  interval: 1h
  timeout: 30s
  chart:
    spec:
      chart: demo
      version: "*"
      interval: 1h
      sourceRef:
        kind: HelmRepository
        name: charts
  values:
    color: green
"""


@pytest.fixture
def helm_controller(
    cluster: devcluster_fixtures.Devcluster, namespace: str, tmp_path: pathlib.Path
) -> Iterator[processes.Controller]:
    with _helm_controller(cluster, namespace, tmp_path) as running:
        yield running


def test_tree_trace_get_and_reconcile_of_a_helm_release(
    headwater: Headwater,  # noqa: F811
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controllers: tuple[processes.Controller, processes.Controller],  # noqa: F811
    helm_controller: processes.Controller,
    repo: chartrepos.ChartRepository,  # noqa: F811 - a chart repository holding demo 1.0.0
    make_repo: Callable[..., RepoBuilder],
    http_server: GitServer,
) -> None:
    ns = ["-n", namespace]
    git = make_repo("helm-cli.git")
    git.commit("Add a release", {"deploy/release.yaml": RELEASE.format(url=repo.url)})

    def logs() -> str:
        return "\n".join(c.output() for c in (*controllers, helm_controller))

    created = headwater(
        "create", "source", "git", "repo", "--url", http_server.url("helm-cli.git"),
        "--branch", "master", "--interval", "1h", *ns,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr + logs()
    created = headwater(
        "create", "kustomization", "app", "--source", "GitRepository/repo", "--path", "./deploy",
        "--prune", "--interval", "1h", "--target-namespace", namespace, *ns,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr + logs()

    # reconcile --with-source: the HelmChart (and its HelmRepository) first, then the release.
    reconciled = headwater("reconcile", "hr", "demo", "--with-source", *ns)
    assert reconciled.returncode == 0, reconciled.stderr + logs()
    assert "✔ HelmChart reconciliation completed" in reconciled.stderr
    assert reconciled.stderr.splitlines()[-1] == "✔ applied revision 1.0.0"
    table = [line.split() for line in _ok(headwater("get", "helmreleases", *ns)).splitlines()]
    assert table[0] == ["NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE"]
    assert table[1][:4] == ["demo", "1.0.0", "False", "True"]
    sourced = _ok(headwater("get", "hr", "demo", "--show-source", *ns)).splitlines()
    assert sourced[0].split()[:3] == ["NAME", "SOURCE", "REVISION"]
    assert sourced[1].split()[:3] == ["demo", f"HelmRepository/{namespace}/charts", "1.0.0"]

    # tree: the Kustomization, through the HelmRelease, to what Helm's storage says it applied.
    tree = _ok(headwater("tree", "ks", "app", *ns)).splitlines()
    assert tree[0] == f"Kustomization/{namespace}/app"
    release_line = next(
        i for i, line in enumerate(tree) if line.endswith(f"── HelmRelease/{namespace}/demo")
    )
    nested = [line for line in tree[release_line + 1 :] if line.startswith(("    ", "│   "))]
    assert sorted(line.strip("│├└─ ") for line in nested) == [
        f"ConfigMap/{namespace}/demo", f"ConfigMap/{namespace}/demo-settings",
        f"Deployment/{namespace}/demo",
    ]  # fmt: skip
    compact = _ok(headwater("tree", "ks", "app", "--compact", *ns)).splitlines()
    assert compact[0] == f"Kustomization/{namespace}/app"
    assert sorted(line.strip("│├└─ ") for line in compact[1:]) == [
        f"HelmRelease/{namespace}/demo", f"HelmRepository/{namespace}/charts",
    ]  # fmt: skip
    as_json = json.loads(_ok(headwater("tree", "hr", "demo", *ns, "-o", "json")))
    assert as_json["resource"] == {
        "Namespace": namespace, "Name": "demo",
        "GroupKind": {"Group": "helm.toolkit.fluxcd.io", "Kind": "HelmRelease"},
    }  # fmt: skip
    assert {child["resource"]["GroupKind"]["Kind"] for child in as_json["resources"]} == {
        "ConfigMap",
        "Deployment",
    }

    # trace: an object of the release → the HelmRelease → its HelmChart → the HelmRepository.
    trace = _ok(headwater("trace", "deployment/demo", *ns))
    for line in (
        "Status:         Managed by Flux",
        "HelmRelease:    demo",
        "Revision:       1.0.0",
        f"HelmChart:      {namespace}-demo",
        "Chart:          demo",
        "HelmRepository: charts",
        f"URL:            {repo.url}",
    ):
        assert line in trace.splitlines(), trace
    # An object owned by an applied one traces through its ownerReferences.
    deployment = objects.get(cluster, namespace, "deployment", "demo") or {}
    objects.apply(cluster, {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "owned", "namespace": namespace, "ownerReferences": [{
            "apiVersion": "apps/v1", "kind": "Deployment", "name": "demo",
            "uid": deployment["metadata"]["uid"],
        }]},
    })  # fmt: skip
    owned = _ok(headwater("trace", "cm/owned", *ns))
    assert "HelmRelease:    demo" in owned.splitlines()
    # The HelmRelease itself was applied by the Kustomization.
    assert "Kustomization:  app" in _ok(headwater("trace", "helmrelease/demo", *ns)).splitlines()

    # reconcile --force --reset: Flux's annotations, answered by a new release that is
    # already in the status when the command returns.
    forced = headwater("reconcile", "hr", "demo", "--force", "--reset", *ns)
    assert forced.returncode == 0, forced.stderr + logs()
    release = objects.get(cluster, namespace, "helmrelease", "demo") or {}
    annotations = release["metadata"]["annotations"]
    token = annotations["reconcile.fluxcd.io/requestedAt"]
    assert annotations["reconcile.fluxcd.io/forceAt"] == token
    assert annotations["reconcile.fluxcd.io/resetAt"] == token
    assert release["status"]["lastHandledForceAt"] == token
    assert release["status"]["lastHandledResetAt"] == token
    assert release["status"]["history"][0]["version"] == 2
    events = _ok(headwater("events", "--for", "HelmRelease/demo", *ns))
    assert "HelmRelease/demo" in events
