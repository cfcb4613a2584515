"""The notification, image and Helm kinds through the headwater command, as a subprocess.

The static kinds (Alert, Provider, an OCI HelmRepository) and a HelmRelease
(no helm-controller runs) need only the cluster; a Receiver and the image
kinds run beside a real notification-controller and image-reflector-controller.
"""

from __future__ import annotations

import json
import pathlib
import subprocess

import pytest
import yaml

from tests.e2e import objects
from tests.e2e.test_cli import Headwater, _ok, headwater  # noqa: F401 - a pytest fixture
from tests.e2e.test_image_reflector import _controller as _image_reflector
from tests.e2e.test_image_reflector import push
from tests.e2e.test_notification_controller import _notification_controller
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures import registry as registry_fixtures
from tests.fixtures.registry import Registry

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
secure_registry = registry_fixtures.secure_registry


def _table(result: subprocess.CompletedProcess[str]) -> list[list[str]]:
    return [line.split() for line in _ok(result).splitlines()]


def test_static_kinds_and_a_helm_release_without_controllers(
    headwater: Headwater,  # noqa: F811
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
) -> None:
    ns = ["-n", namespace]
    provider = headwater("create", "alert-provider", "hook", "--type", "generic",
                         "--address", "http://127.0.0.1:1/hook", *ns)  # fmt: skip
    assert provider.returncode == 0, provider.stderr
    assert provider.stderr.splitlines()[-1] == "✔ Provider hook is ready"
    _ok(headwater("create", "alert", "all", "--provider-ref", "hook",
                  "--event-source", "Kustomization/*", *ns))  # fmt: skip
    charts = headwater("create", "source", "helm", "charts", "--url", "oci://127.0.0.1:1/charts",
                       "-u", "bot", "-p", "s3cret", *ns)  # fmt: skip
    assert charts.returncode == 0, charts.stderr
    repository = objects.get(cluster, namespace, "helmrepository", "charts") or {}
    assert repository["spec"]["secretRef"] == {"name": "helm-charts"}
    credentials = objects.get(cluster, namespace, "secret", "helm-charts") or {}
    assert credentials["type"] == "kubernetes.io/basic-auth"
    _ok(headwater("create", "secret", "oci", "pull", "--url", "ghcr.io/org/app",
                  "-u", "bot", "-p", "s3cret", *ns))  # fmt: skip
    pull = objects.get(cluster, namespace, "secret", "pull") or {}
    assert pull["type"] == "kubernetes.io/dockerconfigjson"

    assert _table(headwater("get", "alerts", *ns)) == [
        ["NAME", "SUSPENDED", "READY", "MESSAGE"],
        ["all", "False", "True", "Alert", "is", "Ready"],
    ]
    assert _table(headwater("get", "alert-providers", *ns)) == [
        ["NAME", "READY", "MESSAGE"],
        ["hook", "True", "Provider", "is", "Ready"],
    ]
    helm_row = _table(headwater("get", "sources", "helm", *ns))[1]
    assert " ".join(helm_row[-5:]) == "True Helm repository is Ready"  # OCI: static
    alert = yaml.safe_load(_ok(headwater("export", "alert", "all", *ns)))
    assert alert["spec"] == {
        "eventSeverity": "info",  # the CRD's default
        "eventSources": [{"kind": "Kustomization", "name": "*"}],
        "providerRef": {"name": "hook"},
    }
    assert headwater("reconcile", "alert", "all", *ns).returncode == 2  # no such verb, as Flux
    _ok(headwater("suspend", "alert", "all", *ns))
    assert _ok(headwater("resume", "alert", "all", *ns)) == ""  # nothing to wait for

    release = _ok(headwater("create", "hr", "app", "--chart-ref", "OCIRepository/app",
                            "--target-namespace", namespace, *ns, "--export"))  # fmt: skip
    objects.apply(cluster, yaml.safe_load(release))
    _ok(headwater("suspend", "hr", "app", *ns))
    suspended = json.loads(_ok(headwater("get", "helmreleases", "app", *ns, "-o", "json")))
    assert suspended["spec"]["suspend"] is True
    assert suspended["spec"]["chartRef"] == {"kind": "OCIRepository", "name": "app"}
    _ok(headwater("resume", "hr", "app", "--no-wait", *ns))
    assert (objects.get(cluster, namespace, "helmrelease", "app") or {})["spec"]["suspend"] is False
    # No source- or helm-controller runs: --with-source annotates the chart's
    # source first, then waits for it until --timeout.
    objects.apply(cluster, {
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
        "metadata": {"name": "app", "namespace": namespace},
        "spec": {"interval": "1h", "url": "oci://127.0.0.1:1/app", "ref": {"tag": "1"}},
    })  # fmt: skip
    waited = headwater("reconcile", "hr", "app", "--with-source", "--timeout", "2s", *ns)
    assert waited.returncode == 1
    assert "► annotating OCIRepository app" in waited.stderr
    assert "◎ waiting for OCIRepository reconciliation" in waited.stderr
    source = objects.get(cluster, namespace, "ocirepository", "app") or {}
    assert "reconcile.fluxcd.io/requestedAt" in source["metadata"]["annotations"]
    _ok(headwater("delete", "hr", "app", "--silent", *ns))
    assert objects.get(cluster, namespace, "helmrelease", "app") is None


def test_a_receiver_and_the_image_kinds_beside_their_controllers(
    headwater: Headwater,  # noqa: F811
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    secure_registry: Registry,
    tmp_path: pathlib.Path,
) -> None:
    ns = ["-n", namespace]
    assert secure_registry.tls is not None
    push(secure_registry, f"{namespace}/app", ["1.0.0", "1.1.0", "2.0.0"])
    cluster.kubectl("create", "secret", "docker-registry", "pull", *ns,
                    f"--docker-server={secure_registry.host}",
                    f"--docker-username={secure_registry.username}",
                    f"--docker-password={secure_registry.password}")  # fmt: skip
    cluster.kubectl("create", "secret", "generic", "ca", *ns,
                    f"--from-file=ca.crt={secure_registry.tls.ca_cert}")  # fmt: skip
    cluster.kubectl("create", "secret", "generic", "token", *ns, "--from-literal=token=s3cret")
    receiver_addr = f"127.0.0.1:{devcluster_fixtures.free_port()}"

    with (
        _image_reflector(cluster, namespace, tmp_path),
        _notification_controller(cluster, namespace, tmp_path, "--receiverAddr", receiver_addr),
    ):
        receiver = headwater("create", "receiver", "push", "--type", "generic", "--secret-ref",
                             "token", "--resource", "ImageRepository/app", *ns)  # fmt: skip
        assert receiver.returncode == 0, receiver.stderr
        assert receiver.stderr.splitlines()[-1].startswith("✔ generated webhook URL /hook/")

        image = f"{secure_registry.host}/{namespace}/app"
        repository = headwater("create", "image", "repository", "app", "--image", image,
                               "--secret-ref", "pull", "--cert-ref", "ca", *ns)  # fmt: skip
        assert repository.returncode == 0, repository.stderr
        assert "✔ ImageRepository reconciliation completed" in repository.stderr
        _ok(headwater("create", "image", "policy", "app", "--image-ref", "app",
                      "--select-semver", "^1.0", *ns))  # fmt: skip
        policy = json.loads(_ok(headwater("get", "image", "policy", "app", *ns, "-o", "json")))
        assert policy["status"]["latestRef"]["tag"] == "1.1.0"
        message = (objects.condition(policy, "Ready") or {})["message"]
        assert _table(headwater("get", "image", "policy", *ns))[:2] == [
            ["NAME", "IMAGE", "TAG", "READY", "MESSAGE"],
            ["app", image, "1.1.0", "True", *message.split()],
        ]

        push(secure_registry, f"{namespace}/app", ["1.2.0"])
        _ok(headwater("reconcile", "image", "repository", "app", *ns))
        _ok(headwater("reconcile", "image", "policy", "app", *ns))
        policy = json.loads(_ok(headwater("get", "image", "policy", "app", *ns, "-o", "json")))
        assert policy["status"]["latestRef"]["tag"] == "1.2.0"
