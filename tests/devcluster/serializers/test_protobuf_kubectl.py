"""kubectl's typed commands send protobuf bodies; the devcluster decodes them.

A kind the decoder has no table for (none of kubectl's generators sends one)
is refused with 415, never stored without its data.
"""

from __future__ import annotations

import aiohttp
import pytest

from devcluster.serializers import protobuf
from tests.devcluster.controllers import test_kubelet as workloads
from tests.devcluster.serializers.protobodies import wire
from tests.fixtures import devcluster as fixtures

Devcluster = fixtures.Devcluster
get = workloads.get


def test_create_deployment_rolls_out(devcluster: Devcluster, namespace: str) -> None:
    devcluster.kubectl(
        "create", "deployment", "web", "-n", namespace, "--image=nginx:1.27", "--replicas=2",
        "--port=80",
    )  # fmt: skip

    devcluster.kubectl("rollout", "status", "-n", namespace, "deployment/web", "--timeout=30s")

    spec = get(devcluster, namespace, "deployment", "web")["spec"]
    assert spec["replicas"] == 2
    assert spec["selector"] == {"matchLabels": {"app": "web"}}
    (container,) = spec["template"]["spec"]["containers"]
    assert (container["name"], container["image"]) == ("nginx", "nginx:1.27")
    assert container["ports"] == [{"containerPort": 80, "protocol": "TCP"}]


@pytest.mark.parametrize(
    ("args", "kind", "name"),
    [
        (("create", "serviceaccount", "robot"), "serviceaccount", "robot"),
        (("create", "service", "clusterip", "svc", "--tcp=80:8080"), "service", "svc"),
        (("create", "secret", "generic", "creds", "--from-literal=a=b"), "secret", "creds"),
        (("create", "configmap", "settings", "--from-literal=a=b"), "configmap", "settings"),
    ],
)
def test_typed_create(
    devcluster: Devcluster, namespace: str, args: tuple[str, ...], kind: str, name: str
) -> None:
    devcluster.kubectl(*args, "-n", namespace)

    created = get(devcluster, namespace, kind, name)

    assert created["metadata"]["name"] == name
    if kind == "service":
        assert created["spec"]["ports"] == [
            {"name": "80-8080", "port": 80, "protocol": "TCP", "targetPort": 8080}
        ]
        assert created["spec"]["selector"] == {"app": "svc"}


def test_create_job_completes(devcluster: Devcluster, namespace: str) -> None:
    devcluster.kubectl("create", "job", "once", "-n", namespace, "--image=busybox")

    devcluster.kubectl(
        "wait", "-n", namespace, "--for=condition=Complete", "job/once", "--timeout=30s"
    )


def test_autoscale_creates_a_v2_hpa(devcluster: Devcluster, namespace: str) -> None:
    devcluster.kubectl("create", "deployment", "x", "-n", namespace, "--image=nginx")

    devcluster.kubectl(
        "autoscale", "deployment/x", "-n", namespace, "--min=1", "--max=3", "--cpu-percent=80"
    )

    hpa = get(devcluster, namespace, "hpa", "x", "--show-managed-fields")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"] == {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "x"},
        "minReplicas": 1,
        "maxReplicas": 3,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 80},
                },
            }
        ],
    }
    # The simulated HPA controller owns only the status.
    entries = hpa["metadata"]["managedFields"]
    managers = {entry["manager"] for entry in entries if entry.get("subresource") != "status"}
    assert managers == {"kubectl-autoscale"}


def _network_policy_body(name: str) -> bytes:
    """A protobuf NetworkPolicy envelope: a kind no kubectl command sends as protobuf."""

    raw = wire.ld(1, wire.ld(1, name))
    return wire.envelope(raw, api_version="networking.k8s.io/v1", kind="NetworkPolicy")


async def test_unsupported_kind_is_415_not_a_silent_loss(
    devcluster: Devcluster, namespace: str
) -> None:
    url = f"/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies"
    async with (
        aiohttp.ClientSession(base_url=devcluster.base_url) as session,
        session.post(
            url,
            data=_network_policy_body("deny"),
            headers={"Content-Type": protobuf.CONTENT_TYPE, "Accept": "application/json"},
        ) as response,
    ):
        status = await response.json()

    assert response.status == 415
    assert (status["kind"], status["reason"]) == ("Status", "UnsupportedMediaType")
    missing = devcluster.kubectl("get", "networkpolicy", "deny", "-n", namespace, check=False)
    assert "NotFound" in missing.stderr
