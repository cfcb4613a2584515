"""OCIRepository end to end: ``headwater artifact push`` → registry → source-controller →
kustomize-controller → cluster, against a real registry and real controller processes."""

from __future__ import annotations

import asyncio
import base64
import json
import pathlib
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from shared.oci import client, credentials, manifests, mediatypes, tls, tokens, transport
from tests.e2e import objects
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures import processes
from tests.fixtures import registry as registry_fixtures
from tests.fixtures.countingproxy import counting_proxy
from tests.fixtures.polling import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
registry = registry_fixtures.registry
secure_registry = registry_fixtures.secure_registry

CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  color: {color}\n"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"


@pytest.fixture
def controllers(
    cluster: devcluster_fixtures.Devcluster, namespace: str, tmp_path: pathlib.Path
) -> Iterator[tuple[processes.Controller, processes.Controller]]:
    """source-controller and kustomize-controller, watching the test's namespace."""
    addr = f"127.0.0.1:{devcluster_fixtures.free_port()}"
    common = ["--kubeconfig", str(cluster.kubeconfig), "--watch-all-namespaces=false"]
    env = {"RUNTIME_NAMESPACE": namespace}
    with (
        processes.start_controller(
            "controllers.source",
            [*common, "--storage-path", str(tmp_path / "storage"),
             "--storage-addr", addr, "--storage-adv-addr", addr],
            log=tmp_path / "source-controller.log",
            env=env,
        ) as source,
        processes.start_controller(
            "controllers.kustomize", [*common, "--requeue-dependency", "1s"],
            log=tmp_path / "kustomize-controller.log", env=env,
        ) as kustomize,
    ):  # fmt: skip
        yield source, kustomize


def push(directory: pathlib.Path, url: str, revision: str) -> str:
    """``headwater artifact push`` of ``directory`` to ``url``; the manifest digest."""
    result = subprocess.run(
        [sys.executable, "-m", "headwater.cli.main", "artifact", "push", url, "--insecure",
         "--path", str(directory), "--source", "https://git.example/app.git",
         "--revision", revision],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().rpartition("@")[2]


def content(tmp_path: pathlib.Path, name: str, color: str) -> pathlib.Path:
    directory = tmp_path / f"content-{name}-{color}"
    directory.mkdir()
    (directory / "config.yaml").write_text(CONFIGMAP.format(name=name, color=color))
    return directory


def ocirepository(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    url: str,
    name: str = "app",
    **spec: Any,
) -> None:
    objects.apply(
        cluster,
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "OCIRepository",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"interval": "1h", "url": url, "insecure": True, **spec},
        },
    )


def wait_revision(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    revision: str,
    source: processes.Controller,
    name: str = "app",
) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        obj = objects.get(cluster, namespace, "ocirepository", name)
        ready = objects.condition(obj, "Ready")
        artifact = ((obj or {}).get("status") or {}).get("artifact") or {}
        if ready and ready["status"] == "True" and artifact.get("revision") == revision:
            return obj
        return None

    return eventually_sync(probe, within=60, message=f"not at {revision}:\n{source.output()}")


def test_pushed_directory_is_applied_through_an_ocirepository(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    registry: registry_fixtures.Registry,
    controllers: tuple[processes.Controller, processes.Controller],
    tmp_path: pathlib.Path,
) -> None:
    source, kustomize = controllers
    url = f"oci://{registry.host}/e2e/{namespace}/manifests"
    digest = push(content(tmp_path, "pushed", "blue"), f"{url}:v1", "main@sha1:0123abcd")
    ocirepository(cluster, namespace, url, ref={"tag": "v1"})

    obj = wait_revision(cluster, namespace, f"v1@{digest}", source)
    artifact = obj["status"]["artifact"]
    assert artifact["metadata"][mediatypes.REVISION_ANNOTATION] == "main@sha1:0123abcd"
    assert artifact["metadata"][mediatypes.SOURCE_ANNOTATION] == "https://git.example/app.git"
    objects.apply(
        cluster,
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "app", "namespace": namespace},
            "spec": {
                "interval": "1h", "prune": True, "targetNamespace": namespace,
                "sourceRef": {"kind": "OCIRepository", "name": "app"},
            },
        },
    )  # fmt: skip

    def applied() -> dict[str, Any] | None:
        ks = objects.get(cluster, namespace, "kustomization", "app")
        ready = objects.condition(ks, "Ready")
        if ks and ready and ready["status"] == "True":
            return ks
        return None

    ks = eventually_sync(applied, within=90, message=f"not applied:\n{kustomize.output()}")
    assert ks["status"]["lastAppliedRevision"] == f"v1@{digest}"
    configmap = objects.get(cluster, namespace, "configmap", "pushed")
    assert configmap is not None
    assert configmap["data"] == {"color": "blue"}
    reasons = [e["reason"] for e in objects.events(cluster, namespace)]
    assert "NewArtifact" in reasons


def test_semver_picks_the_highest_matching_tag_and_a_new_one(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    registry: registry_fixtures.Registry,
    controllers: tuple[processes.Controller, processes.Controller],
    tmp_path: pathlib.Path,
) -> None:
    source = controllers[0]
    url = f"oci://{registry.host}/e2e/{namespace}/versions"
    digests = {
        tag: push(content(tmp_path, "v", tag), f"{url}:{tag}", f"rev-{tag}")
        for tag in ("1.0.0", "1.1.0", "2.0.0-rc.1", "v1.1.5-hotfix", "latest")
    }
    ocirepository(
        cluster, namespace, url, ref={"semver": ">=1.0.0", "semverFilter": r"^\d+\.\d+\.\d+$"}
    )
    wait_revision(cluster, namespace, f"1.1.0@{digests['1.1.0']}", source)

    newer = push(content(tmp_path, "v", "1.2.0"), f"{url}:1.2.0", "rev-1.2.0")
    objects.request_reconcile(cluster, namespace, "ocirepository", "app", "new-tag")
    wait_revision(cluster, namespace, f"1.2.0@{newer}", source)


async def _sign(
    host: str, repository: str, digest: str, key: ec.EllipticCurvePrivateKey, *, signs: str
) -> None:
    """Push a cosign signature (simple-signing payload naming ``signs``) for ``digest``."""
    payload = json.dumps(
        {
            "critical": {
                "identity": {"docker-reference": f"{host}/{repository}"},
                "image": {"docker-manifest-digest": signs},
                "type": "cosign container image signature",
            },
            "optional": None,
        }
    ).encode()
    signature = base64.b64encode(key.sign(payload, ec.ECDSA(hashes.SHA256()))).decode()
    connection = transport.Connection(host=host, plain_http=True)
    async with aiohttp.ClientSession() as session:
        oci = client.Client(session, connection, token_cache=tokens.TokenCache())
        config = await oci.push_blob(
            repository,
            b'{"architecture":"","os":""}',
            media_type="application/vnd.oci.image.config.v1+json",
        )
        layer = await oci.push_blob(repository, payload, media_type=SIMPLE_SIGNING)
        annotated = manifests.Descriptor(
            media_type=layer.media_type,
            digest=layer.digest,
            size=layer.size,
            annotations={SIGNATURE_ANNOTATION: signature},
        )
        algorithm, _, hex_digest = digest.partition(":")
        await oci.push_manifest(
            repository,
            f"{algorithm}-{hex_digest}.sig",
            manifests.image_manifest(config=config, layers=[annotated]),
            media_type=mediatypes.OCI_MANIFEST,
        )


def test_cosign_signed_artifact_is_verified_and_a_tampered_one_refused(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    registry: registry_fixtures.Registry,
    controllers: tuple[processes.Controller, processes.Controller],
    tmp_path: pathlib.Path,
) -> None:
    source = controllers[0]
    repository = f"e2e/{namespace}/signed"
    url = f"oci://{registry.host}/{repository}"
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    cluster.kubectl(
        "create", "secret", "generic", "cosign-keys", "-n", namespace,
        f"--from-literal=cosign.pub={public.decode()}",
    )  # fmt: skip
    signed = push(content(tmp_path, "signed", "green"), f"{url}:v1", "rev-1")
    asyncio.run(_sign(registry.host, repository, signed, key, signs=signed))
    ocirepository(
        cluster, namespace, url, ref={"tag": "v1"},
        verify={"provider": "cosign", "secretRef": {"name": "cosign-keys"}},
    )  # fmt: skip

    obj = wait_revision(cluster, namespace, f"v1@{signed}", source)
    verified = objects.condition(obj, "SourceVerified")
    assert verified is not None
    assert verified["status"] == "True"
    assert "cosign.pub" in verified["message"]

    # The tag moves to other content; its signature tag gets the old signature.
    tampered = push(content(tmp_path, "signed", "red"), f"{url}:v1", "rev-2")
    asyncio.run(_sign(registry.host, repository, tampered, key, signs=signed))
    objects.request_reconcile(cluster, namespace, "ocirepository", "app", "tampered")

    def refused() -> dict[str, Any] | None:
        found = objects.get(cluster, namespace, "ocirepository", "app")
        condition = objects.condition(found, "SourceVerified")
        if condition and condition["status"] == "False":
            return found
        return None

    obj = eventually_sync(refused, within=60, message=f"not refused:\n{source.output()}")
    ready = objects.condition(obj, "Ready")
    assert ready is not None
    assert ready["status"] == "False"
    assert ready["reason"] == "VerificationError"
    assert obj["status"]["artifact"]["revision"] == f"v1@{signed}"
    warnings = [
        e for e in objects.events(cluster, namespace)
        if e["type"] == "Warning" and e["reason"] == "VerificationError"
    ]  # fmt: skip
    assert warnings, objects.events(cluster, namespace)
    assert "no signature of" in warnings[-1]["message"]


def test_unchanged_digest_costs_one_request_and_writes_nothing(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    registry: registry_fixtures.Registry,
    controllers: tuple[processes.Controller, processes.Controller],
    tmp_path: pathlib.Path,
) -> None:
    source = controllers[0]
    url = f"oci://{registry.host}/e2e/{namespace}/steady"
    digest = push(content(tmp_path, "steady", "blue"), f"{url}:stable", "rev")
    with counting_proxy() as proxy:
        cluster.kubectl(
            "create", "secret", "generic", "proxy", "-n", namespace,
            f"--from-literal=address={proxy.url}",
        )  # fmt: skip
        ocirepository(
            cluster, namespace, url, ref={"tag": "stable"}, proxySecretRef={"name": "proxy"}
        )
        obj = wait_revision(cluster, namespace, f"stable@{digest}", source)
        assert proxy.count() > 1
        stored = sorted(p.name for p in (tmp_path / "storage").rglob("*") if p.is_file())

        for token in ("again-1", "again-2"):
            before = proxy.count()
            objects.request_reconcile(cluster, namespace, "ocirepository", "app", token)
            _handled(cluster, namespace, token, source)
            assert proxy.requests[before:] == [
                ("HEAD", f"/v2/e2e/{namespace}/steady/manifests/stable")
            ]

    after = objects.get(cluster, namespace, "ocirepository", "app")
    assert after is not None
    assert after["status"]["artifact"] == obj["status"]["artifact"]
    assert sorted(p.name for p in (tmp_path / "storage").rglob("*") if p.is_file()) == stored


def _handled(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    token: str,
    source: processes.Controller,
) -> None:
    def probe() -> bool:
        obj = objects.get(cluster, namespace, "ocirepository", "app")
        return bool(obj and obj["status"].get("lastHandledReconcileAt") == token)

    eventually_sync(probe, within=30, message=f"{token} not handled:\n{source.output()}")


def test_cloud_provider_and_keyless_verification_stall_with_a_message(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    registry: registry_fixtures.Registry,
    controllers: tuple[processes.Controller, processes.Controller],
) -> None:
    source = controllers[0]
    url = f"oci://{registry.host}/e2e/{namespace}/cloud"
    ocirepository(cluster, namespace, url, provider="aws")

    def stalled(reason: str) -> dict[str, Any] | None:
        obj = objects.get(cluster, namespace, "ocirepository", "app")
        condition = objects.condition(obj, "Stalled")
        return condition if condition and condition["reason"] == reason else None

    condition = eventually_sync(
        lambda: stalled("InvalidProviderConfiguration"), within=30, message=source.output()
    )
    assert "provider 'aws' is not supported" in condition["message"]

    ocirepository(
        cluster, namespace, url, provider="generic",
        verify={"provider": "cosign", "matchOIDCIdentity": [{"issuer": ".*", "subject": ".*"}]},
    )  # fmt: skip
    condition = eventually_sync(
        lambda: stalled("VerificationError"), within=30, message=source.output()
    )
    assert "keyless cosign verification" in condition["message"]
    assert "not supported" in condition["message"]


async def _push_secure(reg: registry_fixtures.Registry, repository: str, layer: bytes) -> str:
    """Push a one-layer Flux artifact to the TLS + htpasswd registry; its digest."""
    assert reg.tls is not None
    connection = transport.Connection(
        host=reg.host,
        credentials=credentials.Credentials(username=reg.username, password=reg.password),
        ssl_context=tls.context(ca=reg.tls.ca_cert.read_bytes()),
    )
    async with aiohttp.ClientSession() as session:
        oci = client.Client(session, connection, token_cache=tokens.TokenCache())
        config = await oci.push_blob(repository, b"{}", media_type=mediatypes.FLUX_CONFIG)
        pushed = await oci.push_blob(repository, layer, media_type=mediatypes.FLUX_CONTENT)
        data = manifests.image_manifest(config=config, layers=[pushed])
        manifest = await oci.push_manifest(
            repository, "latest", data, media_type=mediatypes.OCI_MANIFEST
        )
    return manifest.digest


def test_credentials_from_secret_and_service_account_over_tls(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    secure_registry: registry_fixtures.Registry,
    controllers: tuple[processes.Controller, processes.Controller],
    tmp_path: pathlib.Path,
) -> None:
    source = controllers[0]
    reg = secure_registry
    assert reg.tls is not None
    layer_dir = content(tmp_path, "secure", "black")
    tarball = tmp_path / "layer.tar.gz"
    subprocess.run(["tar", "-czf", str(tarball), "-C", str(layer_dir), "."], check=True)
    digest = asyncio.run(_push_secure(reg, "private/app", tarball.read_bytes()))
    auth = base64.b64encode(f"{reg.username}:{reg.password}".encode()).decode()
    dockerconfig = json.dumps({"auths": {reg.host: {"auth": auth}}})
    cluster.kubectl(
        "create", "secret", "docker-registry", "regcred", "-n", namespace,
        "--from-file=.dockerconfigjson=/dev/stdin", input=dockerconfig,
    )  # fmt: skip
    cluster.kubectl(
        "create", "secret", "generic", "registry-ca", "-n", namespace,
        f"--from-file=ca.crt={reg.tls.ca_cert}",
    )  # fmt: skip
    objects.apply(
        cluster,
        {
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": "puller", "namespace": namespace},
            "imagePullSecrets": [{"name": "regcred"}],
        },
    )  # fmt: skip
    url = f"oci://{reg.host}/private/app"
    tls_ref = {"certSecretRef": {"name": "registry-ca"}, "insecure": False}
    ocirepository(cluster, namespace, url, "by-secret", secretRef={"name": "regcred"}, **tls_ref)
    ocirepository(cluster, namespace, url, "by-account", serviceAccountName="puller", **tls_ref)
    ocirepository(cluster, namespace, url, "anonymous", **tls_ref)

    for name in ("by-secret", "by-account"):
        wait_revision(cluster, namespace, f"latest@{digest}", source, name)

    def refused() -> dict[str, Any] | None:
        ready = objects.condition(
            objects.get(cluster, namespace, "ocirepository", "anonymous"), "Ready"
        )
        return ready if ready and ready["reason"] == "AuthenticationFailed" else None

    ready = eventually_sync(refused, within=60, message=source.output())
    assert ready["status"] == "False"
    assert "401" in ready["message"]
