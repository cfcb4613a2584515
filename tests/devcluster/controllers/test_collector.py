"""The garbage collector and namespace controller, driven by the real kubectl."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.devcluster.controllers import test_kubelet as workloads
from tests.fixtures import crdbodies
from tests.fixtures import devcluster as fixtures

Devcluster = fixtures.Devcluster
poll = workloads.poll
get = workloads.get
apply = workloads.apply


def names(devcluster: Devcluster, namespace: str, kind: str) -> list[str]:
    return sorted(i["metadata"]["name"] for i in get(devcluster, namespace, kind)["items"])


def config_map(name: str, *, owners: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if owners:
        meta["ownerReferences"] = [
            {
                "apiVersion": o.get("apiVersion", "v1"),
                "kind": o.get("kind", "ConfigMap"),
                "name": o["metadata"]["name"],
                "uid": o["metadata"]["uid"],
            }
            for o in owners
        ]
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}


def rolled_out(devcluster: Devcluster, namespace: str, name: str = "web") -> None:
    apply(devcluster, namespace, workloads.deployment(name))
    devcluster.kubectl("rollout", "status", "-n", namespace, f"deployment/{name}", "--timeout=30s")
    assert len(names(devcluster, namespace, "pods")) == 2


def test_background_deletion_collects_replicasets_and_pods(
    devcluster: Devcluster, namespace: str
) -> None:
    rolled_out(devcluster, namespace)

    devcluster.kubectl("delete", "-n", namespace, "deployment/web", "--cascade=background")

    poll(
        lambda: (
            not names(devcluster, namespace, "replicasets")
            and not names(devcluster, namespace, "pods")
        ),
        what="replicasets and pods to be collected",
    )


def test_foreground_deletion_removes_dependents_before_the_owner(
    devcluster: Devcluster, namespace: str
) -> None:
    rolled_out(devcluster, namespace)

    # kubectl waits for the Deployment itself to be gone.
    devcluster.kubectl(
        "delete", "-n", namespace, "deployment/web", "--cascade=foreground", "--timeout=30s"
    )

    assert names(devcluster, namespace, "deployments") == []
    assert names(devcluster, namespace, "replicasets") == []
    poll(lambda: not names(devcluster, namespace, "pods"), what="pods to be collected")


def test_foreground_owner_is_held_until_blocking_dependents_are_gone(
    devcluster: Devcluster, namespace: str
) -> None:
    apply(devcluster, namespace, config_map("owner"))
    owner = get(devcluster, namespace, "configmap", "owner")
    held = config_map("held", owners=[owner])
    held["metadata"]["ownerReferences"][0]["blockOwnerDeletion"] = True
    held["metadata"]["finalizers"] = ["example.com/hold"]
    apply(devcluster, namespace, held)

    devcluster.kubectl(
        "delete", "-n", namespace, "configmap/owner", "--cascade=foreground", "--wait=false"
    )

    owner = poll(
        lambda: (
            (o := get(devcluster, namespace, "configmap", "owner"))["metadata"].get(
                "deletionTimestamp"
            )
            and o
        ),
        what="the owner to be terminating",
    )
    assert "foregroundDeletion" in owner["metadata"]["finalizers"]
    poll(
        lambda: get(devcluster, namespace, "configmap", "held")["metadata"].get(
            "deletionTimestamp"
        ),
        what="the dependent to be deleted",
    )
    assert "owner" in names(devcluster, namespace, "configmaps")

    devcluster.kubectl(
        "patch", "-n", namespace, "configmap/held", "--type=merge", "-p",
        '{"metadata":{"finalizers":null}}',
    )  # fmt: skip

    poll(
        lambda: not {"owner", "held"} & set(names(devcluster, namespace, "configmaps")),
        what="owner and dependent to be gone",
    )


def test_orphan_deletion_keeps_dependents_and_drops_their_references(
    devcluster: Devcluster, namespace: str
) -> None:
    rolled_out(devcluster, namespace)

    devcluster.kubectl(
        "delete", "-n", namespace, "deployment/web", "--cascade=orphan", "--timeout=30s"
    )

    (rs,) = get(devcluster, namespace, "replicasets")["items"]
    assert not rs["metadata"].get("ownerReferences")
    assert len(names(devcluster, namespace, "pods")) == 2


def test_dependent_of_a_deleted_config_map_is_collected(
    devcluster: Devcluster, namespace: str
) -> None:
    apply(devcluster, namespace, config_map("parent"))
    parent = get(devcluster, namespace, "configmap", "parent")
    apply(devcluster, namespace, config_map("child", owners=[parent]))

    devcluster.kubectl("delete", "-n", namespace, "configmap/parent")

    poll(lambda: "child" not in names(devcluster, namespace, "configmaps"), what="child collected")


def test_dependent_with_a_dangling_owner_is_collected(
    devcluster: Devcluster, namespace: str
) -> None:
    ghost = {"metadata": {"name": "ghost", "uid": "00000000-0000-0000-0000-000000000000"}}

    apply(devcluster, namespace, config_map("orphaned", owners=[ghost]))

    poll(
        lambda: "orphaned" not in names(devcluster, namespace, "configmaps"),
        what="the object with a dangling owner to be collected",
    )


def test_dependent_with_a_live_owner_survives_and_loses_the_dead_reference(
    devcluster: Devcluster, namespace: str
) -> None:
    apply(devcluster, namespace, config_map("alive"), config_map("doomed"))
    alive = get(devcluster, namespace, "configmap", "alive")
    doomed = get(devcluster, namespace, "configmap", "doomed")
    apply(devcluster, namespace, config_map("shared", owners=[alive, doomed]))

    devcluster.kubectl("delete", "-n", namespace, "configmap/doomed")

    shared = poll(
        lambda: (
            len(
                (s := get(devcluster, namespace, "configmap", "shared"))["metadata"][
                    "ownerReferences"
                ]
            )
            == 1
            and s
        ),
        what="the dead reference to be dropped",
    )
    assert shared["metadata"]["ownerReferences"][0]["name"] == "alive"


def test_custom_resource_owner_is_discovered(devcluster: Devcluster, namespace: str) -> None:
    crd = crdbodies.crd(group="gc.example.org", plural="owners", singular="owner", kind="Owner")
    devcluster.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(crd))
    devcluster.kubectl(
        "wait", "--for=condition=Established", "crd/owners.gc.example.org", "--timeout=30s"
    )
    owner = {"apiVersion": "gc.example.org/v1", "kind": "Owner", "metadata": {"name": "boss"}}
    poll(
        lambda: (
            devcluster.kubectl(
                "apply",
                "--server-side",
                "-n",
                namespace,
                "-f",
                "-",
                input=json.dumps(owner),
                check=False,
            ).returncode
            == 0
        ),
        what="the custom resource to be accepted",
    )
    boss = get(devcluster, namespace, "owners.gc.example.org", "boss")
    apply(devcluster, namespace, config_map("minion", owners=[boss]))

    devcluster.kubectl("delete", "-n", namespace, "owners.gc.example.org/boss")

    poll(
        lambda: "minion" not in names(devcluster, namespace, "configmaps"), what="minion collected"
    )


@pytest.mark.slow
def test_namespace_deletion_empties_it_then_removes_it(devcluster: Devcluster) -> None:
    namespace = "doomed-ns"
    devcluster.kubectl("create", "namespace", namespace)
    rolled_out(devcluster, namespace)
    held = config_map("held")
    held["metadata"]["finalizers"] = ["example.com/hold"]
    apply(devcluster, namespace, config_map("plain"), held)

    devcluster.kubectl("delete", "namespace", namespace, "--wait=false")

    ns = get(devcluster, "", "namespace", namespace)
    assert ns["status"]["phase"] == "Terminating"
    poll(
        lambda: (
            names(devcluster, namespace, "configmaps") == ["held"]
            and not names(devcluster, namespace, "deployments")
            and not names(devcluster, namespace, "pods")
        ),
        what="the namespace's contents to be deleted",
    )
    assert get(devcluster, "", "namespace", namespace)["status"]["phase"] == "Terminating"

    devcluster.kubectl(
        "patch", "-n", namespace, "configmap/held", "--type=merge", "-p",
        '{"metadata":{"finalizers":null}}',
    )  # fmt: skip

    poll(
        lambda: namespace not in names(devcluster, "", "namespaces"),
        what="the namespace to be removed",
    )
