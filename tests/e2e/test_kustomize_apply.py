"""Apply safety, stages, takeover and ignore rules, as processes against the devcluster.

Git → source-controller → kustomize-controller → devcluster, one scenario of
issue 13's "Why" per test: an unknown kind refused before its stage writes
anything (what an earlier stage wrote stays in the inventory and is pruned
with the Kustomization); a custom resource whose kind is ``Namespace``
(Flux's ``testdata/crds``) Ready on the first reconcile, its informer
stopped once its CRD is pruned; fields kubectl added or took over removed
when Git lacks them; ``spec.ignore`` pointers neither reverted nor reported.
"""

from __future__ import annotations

import json

import pytest

from tests.e2e import objects
from tests.e2e.test_kustomize_controller import (  # noqa: F401 - pytest fixtures
    CONFIGMAP,
    Loop,
    controllers,
    kustomize_flags,
    loop,
)
from tests.fixtures.polling import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CLUSTER_ROLE = """apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {name}
rules:
  - apiGroups: [""]
    resources: [configmaps]
    verbs: [get]
"""

WIDGET = """apiVersion: example.com/v1
kind: Widget
metadata:
  name: thing
spec:
  size: 3
"""

SERVICEBUS_CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: namespaces.servicebus.azure.com
spec:
  group: servicebus.azure.com
  names:
    kind: Namespace
    listKind: NamespaceList
    plural: namespaces
    singular: namespace
  scope: Namespaced
  versions:
    - name: v1beta20210101preview
      served: true
      storage: true
      subresources:
        status: {{}}
      schema:
        openAPIV3Schema:
          type: object
          properties:
            apiVersion: {{type: string}}
            kind: {{type: string}}
            metadata: {{type: object}}
            spec:
              type: object
              properties:
                type: {{type: string, enum: [unit, integration]}}
                valuesFrom: {{type: string}}
            status:
              type: object
              default: {{observedGeneration: -1}}
              properties:
                observedGeneration: {{type: integer, format: int64}}
---
apiVersion: servicebus.azure.com/v1beta20210101preview
kind: Namespace
metadata:
  name: sptribs-servicebus-preview
  annotations:
    serviceoperator.azure.com/reconcile-policy: detach-on-delete
spec:
  type: integration
  valuesFrom: test-config
---
apiVersion: v1
kind: Namespace
metadata:
  name: {namespace}
  labels:
    slackChannel: special-tribunals-builds
"""


def _data(run: Loop, name: str) -> dict[str, str] | None:
    found = run.get("configmap", name)
    return None if found is None else dict(found.get("data") or {})


def _apply_failures(run: Loop, name: str) -> list[str]:
    """The messages of ``name``'s ReconciliationFailed warnings (a failed apply)."""
    return [
        e["message"]
        for e in objects.events(run.cluster, run.namespace)
        if e["type"] == "Warning"
        and e["reason"] == "ReconciliationFailed"
        and e["involvedObject"]["name"] == name
    ]


def test_an_unknown_kind_is_refused_before_its_stage_and_earlier_stages_are_pruned(
    loop: Loop,  # noqa: F811 - the imported fixture
) -> None:
    role = f"{loop.namespace}-reader"
    repo = loop.make_repo("unknown.git")
    repo.commit(
        "Config, a role and a kind nobody serves",
        {
            "deploy/config.yaml": CONFIGMAP.format(name="config", color="blue"),
            "deploy/role.yaml": CLUSTER_ROLE.format(name=role),
            "deploy/widget.yaml": WIDGET,
        },
    )
    loop.sources("unknown.git", path="./deploy")

    ready = eventually_sync(
        loop.failed_with("app", "ReconciliationFailed"),
        within=90,
        message=f"not refused:\n{loop.kustomize.output()}",
    )
    assert (
        f'Widget/{loop.namespace}/thing dry-run failed: no matches for kind "Widget" '
        'in version "example.com/v1"'
    ) in ready["message"]
    # The last stage (ConfigMap and Widget) wrote nothing; the ClusterRole's stage did.
    assert loop.get("configmap", "config") is None
    assert loop.get("clusterrole", role) is not None
    ids = {
        e["id"] for e in (loop.get("kustomization", "app") or {})["status"]["inventory"]["entries"]
    }
    assert f"_{role}_rbac.authorization.k8s.io_ClusterRole" in ids

    loop.kubectl("delete", "kustomization", "app", "--timeout=60s")
    eventually_sync(
        lambda: loop.get("clusterrole", role) is None,
        within=60,
        message=f"the ClusterRole outlived its Kustomization:\n{loop.kustomize.output()}",
    )
    assert loop.get("configmap", "config") is None


def test_a_custom_namespace_kind_is_ready_on_the_first_reconcile(loop: Loop) -> None:  # noqa: F811
    target = f"{loop.namespace}-sb"
    repo = loop.make_repo("crds.git")
    first = repo.commit(
        "Flux's testdata/crds", {"deploy/crds.yaml": SERVICEBUS_CRD.format(namespace=target)}
    )
    loop.sources("crds.git", path="./deploy", targetNamespace=target)

    loop.wait_ready("app", first, message=f"not applied:\n{loop.kustomize.output()}")
    assert _apply_failures(loop, "app") == []
    custom = objects.get(
        loop.cluster, target, "namespaces.servicebus.azure.com", "sptribs-servicebus-preview"
    )
    assert custom is not None
    assert custom["spec"]["type"] == "integration"

    # Pruning the CRD ends the informer that watched its objects, with one log line.
    loop.kubectl("delete", "kustomization", "app", "--timeout=60s")
    eventually_sync(
        lambda: "resource no longer served; informer stopped" in loop.kustomize.output(),
        within=60,
        message=f"informer not stopped:\n{loop.kustomize.output()}",
    )
    stopped = [line for line in loop.kustomize.output().splitlines() if "informer stopped" in line]
    assert len(stopped) == 1, stopped
    assert "api_version=servicebus.azure.com/v1beta20210101preview" in stopped[0]


def test_fields_kubectl_added_or_took_over_go_when_git_lacks_them(loop: Loop) -> None:  # noqa: F811
    repo = loop.make_repo("takeover.git")
    config = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config\ndata:\n  color: blue\n"
    first = repo.commit("Config", {"deploy/config.yaml": config + "  size: m\n"})
    loop.sources("takeover.git", path="./deploy")
    loop.wait_ready("app", first, message=f"not applied:\n{loop.kustomize.output()}")

    loop.kubectl(
        "patch", "configmap", "config", "--type=merge",
        "-p", '{"data":{"size":"xl","patched":"by-kubectl"}}',
    )  # fmt: skip
    client_side = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "config", "namespace": loop.namespace},
        "data": {"applied": "by-kubectl-apply"},
    }
    loop.cluster.kubectl("apply", "-f", "-", input=json.dumps(client_side))
    assert (_data(loop, "config") or {}).get("applied") == "by-kubectl-apply"

    second = repo.commit("Drop size", {"deploy/config.yaml": config})
    objects.request_reconcile(loop.cluster, loop.namespace, "gitrepository", "repo", "second")
    loop.wait_ready("app", second, message=f"not applied:\n{loop.kustomize.output()}")
    eventually_sync(
        lambda: _data(loop, "config") == {"color": "blue"},
        within=30,
        message=f"kubectl's fields survived: {_data(loop, 'config')}",
    )
    annotations = (loop.get("configmap", "config") or {})["metadata"].get("annotations") or {}
    assert "kubectl.kubernetes.io/last-applied-configuration" not in annotations


def test_ignored_pointers_are_neither_reverted_nor_reported(loop: Loop) -> None:  # noqa: F811
    repo = loop.make_repo("ignore.git")
    config = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"
        "data:\n  color: blue\n  size: m\n"
    )
    first = repo.commit(
        "Two configs",
        {
            "deploy/config.yaml": config.format(name="config"),
            "deploy/other.yaml": config.format(name="other"),
        },
    )
    loop.sources(
        "ignore.git",
        path="./deploy",
        ignore=[{"paths": ["/data/color"], "target": {"kind": "ConfigMap", "name": "conf.*"}}],
    )
    loop.wait_ready("app", first, message=f"not applied:\n{loop.kustomize.output()}")

    for name in ("config", "other"):
        loop.kubectl(
            "patch", "configmap", name, "--type=merge", "-p", '{"data":{"color":"red","size":"xl"}}'
        )
    objects.request_reconcile(loop.cluster, loop.namespace, "kustomization", "app", "drift")
    eventually_sync(
        lambda: (_data(loop, "other") or {}).get("color") == "blue",
        within=60,
        message=f"drift not corrected:\n{loop.kustomize.output()}",
    )
    eventually_sync(
        lambda: _data(loop, "config") == {"color": "red", "size": "m"},
        within=30,
        message=f"the ignored pointer was reverted or size kept: {_data(loop, 'config')}",
    )
    assert _data(loop, "other") == {"color": "blue", "size": "m"}
    messages = [
        e["message"]
        for e in objects.events(loop.cluster, loop.namespace)
        # NB: the change set is announced as Progressing, as Flux does.
        if e["reason"] == "Progressing"
    ]
    lines = {line for m in messages for line in m.splitlines() if "drift" in line}
    assert f"ConfigMap/{loop.namespace}/config configured (drift: data.size)" in lines, lines
    assert f"ConfigMap/{loop.namespace}/other configured (drift: data.color, data.size)" in lines
