"""What real clients hit, with the real kubectl and kubernetes-asyncio.

Client-side apply of custom resources: kubectl picks a strategic merge
patch only when the OpenAPI documents list ``application/strategic-merge-patch+json`` for the
kind's PATCH operation; kube-apiserver leaves it out for custom resources
(which refuse it with 415), so kubectl sends a JSON merge patch instead. Also: the simulated HPA
controller and the HPA's columns, CEL transition rules through ``kubectl
apply``, watches that end when their CRD is deleted, and the built-in kinds'
own validation (kubectl, kubernetes-asyncio, Helm).
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import select
import subprocess
from typing import Any

import helm_python as helm
import pytest
from kubernetes_asyncio import client, config, watch

from tests.fixtures import devcluster as fixtures
from tests.fixtures import polling

Devcluster = fixtures.Devcluster


def _crd(plural: str, kind: str, properties: dict[str, Any]) -> str:
    """A namespaced ``example.org/v1`` CRD whose ``spec`` has ``properties``."""
    spec = {"type": "object", "properties": properties}
    version = {
        "name": "v1",
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": spec}}},
    }
    names = {"plural": plural, "singular": kind.lower(), "kind": kind}
    return json.dumps(
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.example.org"},
            "spec": {
                "group": "example.org",
                "scope": "Namespaced",
                "names": names,
                "versions": [version],
            },
        }
    )


_STRINGS = {"interval": {"type": "string"}, "url": {"type": "string"}}
CRD = _crd("gizmos", "Gizmo", _STRINGS)


def _gizmo(namespace: str, **spec: str) -> str:
    return json.dumps(
        {
            "apiVersion": "example.org/v1",
            "kind": "Gizmo",
            "metadata": {"name": "g", "namespace": namespace},
            "spec": spec,
        }
    )


def _served(devcluster: Devcluster) -> bool:
    return devcluster.kubectl("get", "gizmos", "-A", check=False).returncode == 0


def test_client_side_apply_updates_a_custom_resource(
    devcluster: Devcluster, namespace: str
) -> None:
    devcluster.kubectl("apply", "-f", "-", input=CRD)
    polling.poll(lambda: _served(devcluster), timeout=20, what="gizmos served")
    first = _gizmo(namespace, interval="1m", url="https://example.org/a")
    assert "created" in devcluster.kubectl("apply", "-f", "-", input=first).stdout

    second = _gizmo(namespace, interval="5m")
    out = devcluster.kubectl("apply", "-f", "-", input=second)

    assert "configured" in out.stdout
    got = json.loads(devcluster.kubectl("get", "-n", namespace, "gizmo", "g", "-o", "json").stdout)
    # A JSON merge patch of the three-way diff: interval changed, url removed.
    assert got["spec"] == {"interval": "5m"}


def _replicas(devcluster: Devcluster, namespace: str) -> int:
    deployment = devcluster.kubectl("get", "deploy", "web", "-n", namespace, "-o", "json").stdout
    return int(json.loads(deployment)["spec"]["replicas"])


def test_hpa_keeps_replicas_within_bounds_and_prints_its_columns(
    devcluster: Devcluster, namespace: str
) -> None:
    devcluster.kubectl("create", "deployment", "web", "--image=nginx", "-n", namespace)
    devcluster.kubectl(
        "autoscale", "deployment", "web", "--min=2", "--max=4", "--cpu-percent=80", "-n", namespace
    )

    polling.poll(lambda: _replicas(devcluster, namespace) == 2, what="scaled up to min")
    devcluster.kubectl("scale", "deployment", "web", "--replicas=9", "-n", namespace)
    polling.poll(lambda: _replicas(devcluster, namespace) == 4, what="scaled down to max")

    def printed() -> list[str]:
        return devcluster.kubectl("get", "hpa", "-n", namespace).stdout.splitlines()

    rows = polling.poll(lambda: (lines := printed()) and lines[1].split()[5] == "4" and lines)
    assert rows[0].split() == [
        "NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"
    ]  # fmt: skip
    assert rows[1].split()[:6] == ["web", "Deployment/web", "cpu:", "<unknown>/80%", "2", "4"]
    hpa = json.loads(devcluster.kubectl("get", "hpa", "web", "-n", namespace, "-o", "json").stdout)
    conditions = {c["type"]: c["reason"] for c in hpa["status"]["conditions"]}
    assert conditions["AbleToScale"] == "SucceededGetScale"
    assert conditions["ScalingLimited"] in ("TooManyReplicas", "DesiredWithinRange")


_IMMUTABLE = [{"rule": "self == oldSelf", "message": "size is immutable"}]
TRANSITION_CRD = _crd(
    "vaults",
    "Vault",
    {
        "size": {"type": "integer", "x-kubernetes-validations": _IMMUTABLE},
        "note": {"type": "string"},
    },
)


def test_transition_rule_refuses_a_kubectl_apply_that_changes_old_self(
    devcluster: Devcluster, namespace: str
) -> None:
    devcluster.kubectl("apply", "-f", "-", input=TRANSITION_CRD)
    polling.poll(
        lambda: devcluster.kubectl("get", "vaults", "-A", check=False).returncode == 0,
        what="vaults served",
    )

    def vault(**spec: object) -> str:
        metadata = {"name": "v", "namespace": namespace}
        return json.dumps(
            {"apiVersion": "example.org/v1", "kind": "Vault", "metadata": metadata, "spec": spec}
        )

    devcluster.kubectl("apply", "-f", "-", input=vault(size=1, note="a"))
    noted = devcluster.kubectl("apply", "-f", "-", input=vault(size=1, note="b"))
    resized = devcluster.kubectl("apply", "-f", "-", input=vault(size=2, note="b"), check=False)

    assert "configured" in noted.stdout
    assert resized.returncode == 1
    assert 'The Vault "v" is invalid: spec.size: Invalid value: "integer": size is immutable' in (
        resized.stderr
    )


def test_kubectl_watch_ends_when_the_crd_is_deleted(devcluster: Devcluster, namespace: str) -> None:
    devcluster.kubectl("apply", "-f", "-", input=_crd("doodads", "Doodad", _STRINGS))
    polling.poll(
        lambda: devcluster.kubectl("get", "doodads", "-A", check=False).returncode == 0,
        what="doodads served",
    )
    doodad = {"apiVersion": "example.org/v1", "kind": "Doodad", "metadata": {"name": "d"}}
    devcluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(doodad))
    command = [str(fixtures.KUBECTL), "--kubeconfig", str(devcluster.kubeconfig)]
    command += ["get", "doodads", "-n", namespace, "--watch", "-o", "name"]
    watcher = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    output = watcher.stdout
    assert output is not None
    try:
        polling.poll(lambda: select.select([output], [], [], 0.1)[0], what="kubectl watching")
        first = output.readline()
        devcluster.kubectl("delete", "crd", "doodads.example.org")
        polling.poll(lambda: watcher.poll() is not None, timeout=20, what="kubectl exits")
    finally:
        fixtures.stop_process(watcher)

    assert first == "doodad.example.org/d\n"


async def test_kubernetes_asyncio_watch_ends_when_the_crd_is_deleted(
    devcluster: Devcluster,
) -> None:
    devcluster.kubectl("apply", "-f", "-", input=_crd("thingies", "Thingy", _STRINGS))
    polling.poll(
        lambda: devcluster.kubectl("get", "thingies", "-A", check=False).returncode == 0,
        what="thingies served",
    )
    thingy = {"apiVersion": "example.org/v1", "kind": "Thingy", "metadata": {"name": "t"}}
    devcluster.kubectl("apply", "-n", "default", "-f", "-", input=json.dumps(thingy))
    configuration = client.Configuration()
    await config.load_kube_config(
        config_file=str(devcluster.kubeconfig), client_configuration=configuration
    )
    seen: list[str] = []
    async with client.ApiClient(configuration) as api:
        custom = client.CustomObjectsApi(api)
        stream = watch.Watch().stream(
            custom.list_namespaced_custom_object,
            "example.org",
            "v1",
            "default",
            "thingies",
            timeout_seconds=60,
        )

        async def consume() -> None:
            async for event in stream:
                seen.append(event["type"])
                if len(seen) == 1:
                    await asyncio.to_thread(
                        devcluster.kubectl, "delete", "crd", "thingies.example.org"
                    )

        await asyncio.wait_for(consume(), timeout=30)

    assert seen == ["ADDED", "DELETED"]


def _workload(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    template = {
        "metadata": {"labels": {"app": name}},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": {"matchLabels": {"app": name}}, "template": template, **spec},
    }


REFUSED = [
    (
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"a": "no pe"}},
        'Error from server (BadRequest): error when creating "STDIN": Secret in version "v1" '
        "cannot be handled as a Secret: illegal base64 data at input byte 2",
    ),
    (
        _workload("neg", "", replicas=-1),
        'The Deployment "neg" is invalid: spec.replicas: Invalid value: -1: must be greater '
        "than or equal to 0",
    ),
    (
        _workload("empty", "", template={"metadata": {"labels": {"app": "empty"}}, "spec": {}}),
        'The Deployment "empty" is invalid: spec.template.spec.containers: Required value',
    ),
    (
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Upper"}},
        'The ConfigMap "Upper" is invalid: metadata.name: Invalid value: "Upper": a lowercase '
        "RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
        "must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
        "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    ),
    (
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a.b"},
         "spec": {"ports": [{"port": 80}]}},
        'The Service "a.b" is invalid: metadata.name: Invalid value: "a.b": a DNS-1035 label',
    ),
    (
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": "l", "labels": {"a": "b c"}}},
        'The ConfigMap "l" is invalid: metadata.labels: Invalid value: "b c": a valid label must '
        "be an empty string",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("body", "message"), REFUSED, ids=lambda v: str(v)[:20])
def test_kubectl_create_is_refused_as_by_kube_apiserver(
    devcluster: Devcluster, namespace: str, body: dict[str, Any], message: str
) -> None:
    body = {**body, "metadata": {**body["metadata"], "namespace": namespace}}
    result = devcluster.kubectl(
        "create", "--validate=false", "-f", "-", input=json.dumps(body), check=False
    )

    assert result.returncode == 1
    assert result.stderr.startswith(message)


async def test_kubernetes_asyncio_sees_422_with_causes(
    devcluster: Devcluster, namespace: str
) -> None:
    configuration = client.Configuration()
    await config.load_kube_config(
        config_file=str(devcluster.kubeconfig), client_configuration=configuration
    )
    async with client.ApiClient(configuration) as api:
        apps = client.AppsV1Api(api)
        # A plain dict is sent as it is: the test is about the server alone.
        body: Any = _workload("neg", "", replicas=-3)
        with pytest.raises(client.ApiException) as refused:
            await apps.create_namespaced_deployment(namespace, body)

    status = json.loads(refused.value.body or b"{}")
    assert (refused.value.status, status["reason"]) == (422, "Invalid")
    assert status["details"]["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "message": "Invalid value: -3: must be greater than or equal to 0",
            "field": "spec.replicas",
        }
    ]


def test_helm_install_of_an_invalid_deployment_fails_with_the_field_error(
    devcluster: Devcluster, namespace: str, tmp_path: pathlib.Path
) -> None:
    chart = tmp_path / "bad"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: bad\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("replicas: -1\n")
    deployment = _workload("bad-web", "")
    deployment["spec"]["replicas"] = "REPLICAS"
    (chart / "templates" / "deployment.yaml").write_text(
        json.dumps(deployment).replace('"REPLICAS"', "{{ .Values.replicas }}")
    )

    settings = helm.Config(kubeconfig_path=devcluster.kubeconfig, namespace=namespace)
    with settings, pytest.raises(helm.HelmError) as failed:
        settings.install(helm.Chart.load(chart), "bad", None, timeout=30)

    assert "spec.replicas: Invalid value: -1: must be greater than or equal to 0" in str(
        failed.value
    )
