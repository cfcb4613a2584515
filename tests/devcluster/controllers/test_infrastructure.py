"""Simulated infrastructure: claims bind, LoadBalancer Services get an address."""

from __future__ import annotations

from typing import Any

from devcluster.controllers import infrastructure
from tests.devcluster.controllers import test_kubelet as workloads
from tests.fixtures import devcluster as fixtures

Devcluster = fixtures.Devcluster
get = workloads.get
poll = workloads.poll


def claim(name: str, *, mode: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if mode:
        meta["annotations"] = {workloads.SIMULATE: mode}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": meta,
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }


def test_claim_binds_and_a_pending_one_does_not(devcluster: Devcluster, namespace: str) -> None:
    workloads.apply(devcluster, namespace, claim("stuck", mode="pending"), claim("data"))

    devcluster.kubectl(
        "wait", "-n", namespace, "--for=jsonpath={.status.phase}=Bound", "pvc/data", "--timeout=30s"
    )

    status = get(devcluster, namespace, "pvc", "data")["status"]
    assert status == {
        "phase": "Bound",
        "accessModes": ["ReadWriteOnce"],
        "capacity": {"storage": "1Gi"},
    }
    assert (get(devcluster, namespace, "pvc", "stuck").get("status") or {}).get("phase") != "Bound"


def test_load_balancer_service_gets_an_ingress_address(
    devcluster: Devcluster, namespace: str
) -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "lb"},
        "spec": {"type": "LoadBalancer", "selector": {"app": "x"}, "ports": [{"port": 80}]},
    }
    workloads.apply(devcluster, namespace, service)

    ingress = poll(
        lambda: (
            (get(devcluster, namespace, "service", "lb").get("status") or {})
            .get("loadBalancer", {})
            .get("ingress")
        ),
        what="a load-balancer address",
    )

    assert ingress[0]["ip"] == "127.0.0.1"


def test_statefulset_claims_are_created_and_bound(devcluster: Devcluster, namespace: str) -> None:
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db"},
        "spec": {
            "replicas": 2,
            "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "template": workloads.pod_template("db", "postgres:16"),
            "volumeClaimTemplates": [claim("data")],
        },
    }
    workloads.apply(devcluster, namespace, sts)

    devcluster.kubectl("rollout", "status", "-n", namespace, "statefulset/db", "--timeout=30s")
    for name in ("data-db-0", "data-db-1"):
        devcluster.kubectl(
            "wait", "-n", namespace, "--for=jsonpath={.status.phase}=Bound", f"pvc/{name}",
            "--timeout=30s",
        )  # fmt: skip

    labels = get(devcluster, namespace, "pvc", "data-db-0")["metadata"]["labels"]
    assert labels["app"] == "db"


def test_claim_status_without_a_storage_request() -> None:
    assert infrastructure.claim_status({"spec": {"accessModes": ["ReadOnlyMany"]}}) == {
        "phase": "Bound",
        "accessModes": ["ReadOnlyMany"],
    }


def test_only_load_balancer_services_get_a_status() -> None:
    assert infrastructure.service_status({"spec": {"type": "ClusterIP"}}) is None
    assert infrastructure.service_status({"spec": {}}) is None
    assert infrastructure.service_status({"spec": {"type": "LoadBalancer"}}) == {
        "loadBalancer": {"ingress": [{"ip": "127.0.0.1", "ipMode": "VIP"}]}
    }
