"""source-controller as a process: HelmCharts from OCI registries and from Buckets.

Against the devcluster and real servers on 127.0.0.1: Debian's
docker-registry (anonymous over HTTP, and htpasswd over TLS) holding charts
the Helm SDK packaged and pushed, cosign signatures pushed beside them, a Git
server, and moto's S3 server for Buckets.
"""

from __future__ import annotations

import asyncio
import base64
import json
import pathlib
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ec

from tests.e2e import helmsources, objects
from tests.fixtures import chartrepos, cosignatures, processes, s3
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures import registry as registry_fixtures
from tests.fixtures.gitservers import GitServer, RepoBuilder
from tests.fixtures.polling import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
controller = helmsources.controller
registry = registry_fixtures.registry
secure_registry = registry_fixtures.secure_registry
s3_server = s3.s3_server


def _push(
    target: registry_fixtures.Registry, workdir: pathlib.Path, path: str, name: str,
    version: str, **chart: Any,
) -> pathlib.Path:  # fmt: skip
    """Package chart ``name`` ``version`` and ``helm push`` it to ``oci://<host>/<path>``."""
    archive = chartrepos.package(
        workdir / f"src-{name}-{version}", workdir / "pushed", name, version, **chart
    )
    registry_fixtures.push_chart(target, archive, path)
    return archive


def _waiter(
    cluster: devcluster_fixtures.Devcluster, namespace: str, controller: processes.Controller
) -> Callable[..., dict[str, Any]]:
    """``wait(probe_factory, *args)``: poll ``probe_factory(cluster, namespace, *args)``."""

    def wait(factory: Callable[..., Any], *args: str) -> dict[str, Any]:
        found: dict[str, Any] = eventually_sync(
            factory(cluster, namespace, *args), within=60, message=controller.output()
        )
        return found

    return wait


def test_a_chart_from_an_oci_repository_follows_its_range_and_merges_values(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controller: processes.Controller,
    registry: registry_fixtures.Registry,
    tmp_path: pathlib.Path,
) -> None:
    path = f"{namespace}/charts"
    pushed = {
        version: _push(
            registry,
            tmp_path,
            path,
            "podinfo",
            version,
            files={"values-prod.yaml": "replicas: 3\n"},
        )
        for version in ("6.0.3", "6.1.0", "7.0.0-rc.1")
    }
    wait = _waiter(cluster, namespace, controller)
    url = f"oci://{registry.host}/{path}"
    objects.apply(
        cluster, helmsources.helmrepository(namespace, "registry", url, type="oci", insecure=True)
    )
    objects.apply(
        cluster,
        helmsources.helmchart(
            namespace, "podinfo", "podinfo", "HelmRepository", "registry", version="6.x"
        ),
    )

    chart = wait(helmsources.ready, "helmchart", "podinfo", "6.1.0")
    status = chart["status"]
    assert status["observedChartName"] == "podinfo"
    assert "observedSourceArtifactRevision" not in status
    assert helmsources.download(status["artifact"]["url"]) == pushed["6.1.0"].read_bytes()
    stored = objects.condition(chart, "ArtifactInStorage")
    assert stored is not None
    assert (stored["reason"], stored["message"]) == (
        "ChartPullSucceeded",
        "pulled 'podinfo' chart with version '6.1.0'",
    )

    # A new version in range is picked up.
    pushed["6.2.0"] = _push(registry, tmp_path, path, "podinfo", "6.2.0")
    objects.request_reconcile(cluster, namespace, "helmchart", "podinfo", "newer")
    wait(helmsources.ready, "helmchart", "podinfo", "6.2.0")
    messages = {e["message"] for e in objects.events(cluster, namespace)}
    assert "pulled 'podinfo' chart with version '6.2.0'" in messages

    # Values files: packaged again, the generation in the version.
    objects.apply(
        cluster,
        helmsources.helmchart(
            namespace, "prod", "podinfo", "HelmRepository", "registry", version="6.0.3",
            valuesFiles=["values.yaml", "values-prod.yaml"],
        ),
    )  # fmt: skip
    prod = wait(helmsources.ready, "helmchart", "prod")
    generation = prod["metadata"]["generation"]
    assert prod["status"]["artifact"]["revision"] == f"6.0.3+{generation}"
    files = helmsources.chart_files(helmsources.download(prod["status"]["artifact"]["url"]))
    assert yaml.safe_load(files["podinfo/values.yaml"]) == {"replicas": 3}
    assert objects.condition(prod, "ArtifactInStorage")["reason"] == "ChartPackageSucceeded"  # type: ignore[index]

    # No version in range: a pull error that says so.
    objects.apply(
        cluster,
        helmsources.helmchart(
            namespace, "missing", "podinfo", "HelmRepository", "registry", version="9.x"
        ),
    )
    failed = wait(helmsources.condition, "helmchart", "missing", "FetchFailed", "ChartPullError")
    assert failed["message"] == (
        "chart pull error: failed to get chart version for remote reference: "
        "could not locate a version matching provided version string 9.x"
    )


def test_registry_credentials_and_tls_and_a_wrong_password_keeps_the_last_chart(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controller: processes.Controller,
    secure_registry: registry_fixtures.Registry,
    tmp_path: pathlib.Path,
) -> None:
    path = f"{namespace}/private"
    first = _push(secure_registry, tmp_path, path, "app", "1.0.0")
    assert secure_registry.tls is not None
    wait = _waiter(cluster, namespace, controller)
    url = f"oci://{secure_registry.host}/{path}"
    auth = base64.b64encode(f"{secure_registry.username}:{secure_registry.password}".encode())
    docker_config = json.dumps({"auths": {secure_registry.host: {"auth": auth.decode()}}})
    helmsources.secret(cluster, namespace, "docker", **{".dockerconfigjson": docker_config})
    helmsources.secret(
        cluster, namespace, "basic",
        username=secure_registry.username, password=secure_registry.password,
    )  # fmt: skip
    helmsources.secret(cluster, namespace, "ca", **{"ca.crt": f"@{secure_registry.tls.ca_cert}"})
    for name in ("docker", "basic"):
        objects.apply(
            cluster,
            helmsources.helmrepository(
                namespace, name, url, type="oci",
                secretRef={"name": name}, certSecretRef={"name": "ca"},
            ),
        )  # fmt: skip
        objects.apply(
            cluster, helmsources.helmchart(namespace, name, "app", "HelmRepository", name)
        )
        chart = wait(helmsources.ready, "helmchart", name, "1.0.0")
        assert helmsources.download(chart["status"]["artifact"]["url"]) == first.read_bytes()

    # The password changes to a wrong one: the last chart stays served.
    _push(secure_registry, tmp_path, path, "app", "1.1.0")
    cluster.kubectl("delete", "secret", "basic", "-n", namespace)
    helmsources.secret(
        cluster, namespace, "basic", username=secure_registry.username, password="wrong"
    )
    objects.request_reconcile(cluster, namespace, "helmchart", "basic", "wrong-password")
    failed = wait(
        helmsources.condition, "helmchart", "basic", "FetchFailed", "AuthenticationFailed"
    )
    assert failed["message"].startswith("failed to authenticate with the Helm repository")
    current = objects.get(cluster, namespace, "helmchart", "basic")
    assert current is not None
    assert current["status"]["artifact"]["revision"] == "1.0.0"
    assert helmsources.download(current["status"]["artifact"]["url"]) == first.read_bytes()


def _digest(target: registry_fixtures.Registry, reference: str, workdir: pathlib.Path) -> str:
    """The manifest digest of ``oci://<host>/<reference>`` as Helm resolves it."""
    import helm_python as helm  # NB: loads a Go runtime, so only when used

    with helm.RegistryClient(plain_http=True, credentials_file=workdir / "registry.json") as sdk:
        return str(sdk.resolve(f"oci://{target.host}/{reference}")["digest"])


def test_cosign_signatures_of_oci_charts_are_verified(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controller: processes.Controller,
    registry: registry_fixtures.Registry,
    tmp_path: pathlib.Path,
) -> None:
    path = f"{namespace}/signed"
    _push(registry, tmp_path, path, "signed", "1.0.0")
    _push(registry, tmp_path, path, "unsigned", "1.0.0")
    key = ec.generate_private_key(ec.SECP256R1())
    digest = _digest(registry, f"{path}/signed:1.0.0", tmp_path)
    asyncio.run(cosignatures.sign(registry.host, f"{path}/signed", digest, key, signs=digest))
    helmsources.secret(
        cluster, namespace, "cosign-keys", **{"cosign.pub": cosignatures.public_pem(key).decode()}
    )
    wait = _waiter(cluster, namespace, controller)
    url = f"oci://{registry.host}/{path}"
    objects.apply(
        cluster, helmsources.helmrepository(namespace, "registry", url, type="oci", insecure=True)
    )
    keyed = {"provider": "cosign", "secretRef": {"name": "cosign-keys"}}
    for name in ("signed", "unsigned"):
        objects.apply(
            cluster,
            helmsources.helmchart(
                namespace, name, name, "HelmRepository", "registry", verify=keyed
            ),
        )
    objects.apply(
        cluster,
        helmsources.helmchart(
            namespace, "notation", "signed", "HelmRepository", "registry",
            verify={"provider": "notation", "secretRef": {"name": "cosign-keys"}},
        ),
    )  # fmt: skip

    signed = wait(helmsources.ready, "helmchart", "signed", "1.0.0")
    verified = objects.condition(signed, "SourceVerified")
    assert verified is not None
    assert (verified["status"], verified["reason"], verified["message"]) == (
        "True", "Succeeded", "verified signature of version 1.0.0",
    )  # fmt: skip

    refused = wait(
        helmsources.condition, "helmchart", "unsigned", "BuildFailed", "ChartVerificationError"
    )
    assert refused["message"].startswith(
        f"chart verification error: failed to verify {url}/unsigned:1.0.0: "
        "no cosign signature found"
    )
    unverified = objects.condition(
        objects.get(cluster, namespace, "helmchart", "unsigned"), "SourceVerified"
    )
    assert unverified is not None
    assert (unverified["status"], unverified["reason"]) == ("False", "VerificationError")

    stalled = wait(helmsources.condition, "helmchart", "notation", "Stalled", "VerificationError")
    assert "'notation' is not supported" in stalled["message"]


def test_a_chart_from_a_bucket(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controller: processes.Controller,
    s3_server: s3.S3Server,
) -> None:
    bucket = f"{namespace}-charts"
    s3_server.client().create_bucket(Bucket=bucket)
    s3_server.put(
        bucket,
        {
            "charts/app/Chart.yaml": "apiVersion: v2\nname: app\nversion: 1.2.3\n"
            "dependencies:\n- name: lib\n  version: 0.1.0\n  repository: file://../lib\n",
            "charts/app/values.yaml": "replicas: 1\n",
            "charts/app/templates/cm.yaml": "kind: ConfigMap\n",
            "charts/lib/Chart.yaml": "apiVersion: v2\nname: lib\nversion: 0.1.0\ntype: library\n",
        },
    )
    helmsources.secret(
        cluster, namespace, "s3-keys", accesskey=s3.ACCESS_KEY, secretkey=s3.SECRET_KEY
    )
    objects.apply(
        cluster,
        {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "Bucket",
         "metadata": {"name": "charts", "namespace": namespace},
         "spec": {"interval": "1h", "bucketName": bucket, "endpoint": s3_server.endpoint,
                  "insecure": True, "secretRef": {"name": "s3-keys"}}},
    )  # fmt: skip
    wait = _waiter(cluster, namespace, controller)
    source = wait(helmsources.ready, "bucket", "charts")
    revision = source["status"]["artifact"]["revision"]
    objects.apply(
        cluster, helmsources.helmchart(namespace, "app", "charts/app", "Bucket", "charts")
    )
    objects.apply(
        cluster,
        helmsources.helmchart(
            namespace, "app-rev", "./charts/app", "Bucket", "charts", reconcileStrategy="Revision"
        ),
    )

    chart = wait(helmsources.ready, "helmchart", "app", "1.2.3")
    assert chart["status"]["observedSourceArtifactRevision"] == revision
    files = helmsources.chart_files(helmsources.download(chart["status"]["artifact"]["url"]))
    assert "app/charts/lib-0.1.0.tgz" in files
    assert objects.condition(chart, "ArtifactInStorage")["reason"] == "ChartPackageSucceeded"  # type: ignore[index]
    short = revision.removeprefix("sha256:")[:12]
    wait(helmsources.ready, "helmchart", "app-rev", f"1.2.3+{short}")


def test_oci_dependencies_of_a_git_chart_come_from_the_registry(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controller: processes.Controller,
    registry: registry_fixtures.Registry,
    make_repo: Callable[..., RepoBuilder],
    http_server: GitServer,
    tmp_path: pathlib.Path,
) -> None:
    path = f"{namespace}/deps"
    dependency = _push(registry, tmp_path, path, "podinfo", "6.1.0")
    url = f"oci://{registry.host}/{path}"
    git = make_repo("umbrella.git")
    git.commit(
        "Add an umbrella chart",
        {
            "umbrella/Chart.yaml": "apiVersion: v2\nname: umbrella\nversion: 0.1.0\n"
            f"dependencies:\n- name: podinfo\n  version: 6.x\n  repository: {url}\n",
        },
    )
    objects.apply(
        cluster,
        {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
         "metadata": {"name": "umbrella", "namespace": namespace},
         "spec": {"interval": "1h", "url": http_server.url("umbrella.git")}},
    )  # fmt: skip
    # NB: the registry speaks plain HTTP: only through an `insecure` HelmRepository of its URL.
    objects.apply(
        cluster, helmsources.helmrepository(namespace, "deps", url, type="oci", insecure=True)
    )
    objects.apply(
        cluster,
        helmsources.helmchart(namespace, "umbrella", "umbrella", "GitRepository", "umbrella"),
    )

    wait = _waiter(cluster, namespace, controller)
    chart = wait(helmsources.ready, "helmchart", "umbrella", "0.1.0")
    files = helmsources.chart_files(helmsources.download(chart["status"]["artifact"]["url"]))
    assert files["umbrella/charts/podinfo-6.1.0.tgz"] == dependency.read_bytes()
