"""OCIRepository end to end: ``headwater artifact push`` → registry → source-controller →
kustomize-controller → cluster, against a real registry and real controller processes."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import pathlib
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from shared.oci import client, credentials, manifests, mediatypes, tls, tokens, transport
from tests.e2e import objects
from tests.e2e.test_kustomize_controller import controllers, kustomize_flags  # noqa: F401
from tests.fixtures import cosignatures, processes
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures import registry as registry_fixtures
from tests.fixtures.countingproxy import counting_proxy
from tests.fixtures.polling import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
registry = registry_fixtures.registry
secure_registry = registry_fixtures.secure_registry

CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  color: {color}\n"
Probe = Callable[[dict[str, Any] | None], bool]


@dataclasses.dataclass(frozen=True)
class Sources:
    """One test's namespace, registry and controllers, and what it does with them."""

    cluster: devcluster_fixtures.Devcluster
    namespace: str
    registry: registry_fixtures.Registry
    source: processes.Controller
    kustomize: processes.Controller
    workdir: pathlib.Path

    def url(self, repository: str) -> str:
        return f"oci://{self.registry.host}/{self.repository(repository)}"

    def repository(self, name: str) -> str:
        return f"e2e/{self.namespace}/{name}"

    def push(self, name: str, color: str, url: str, revision: str) -> str:
        """``headwater artifact push`` of a ConfigMap ``name`` to ``url``; the digest."""
        directory = self.workdir / f"content-{name}-{color}"
        directory.mkdir()
        (directory / "config.yaml").write_text(CONFIGMAP.format(name=name, color=color))
        result = subprocess.run(
            [sys.executable, "-m", "headwater.cli.main", "artifact", "push", url, "--insecure",
             "--path", str(directory), "--source", "https://git.example/app.git",
             "--revision", revision],
            capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout.strip().rpartition("@")[2]

    def kubectl(self, *args: str, input: str | None = None) -> None:
        self.cluster.kubectl("-n", self.namespace, *args, input=input)

    def apply(self, kind: str, name: str, spec: dict[str, Any], **top: Any) -> None:
        version = "v1" if kind == "ServiceAccount" else f"{_GROUPS[kind]}/v1"
        body = {"spec": spec} if spec else {}
        objects.apply(
            self.cluster,
            {"apiVersion": version, "kind": kind,
             "metadata": {"name": name, "namespace": self.namespace}, **body, **top},
        )  # fmt: skip

    def ocirepository(self, url: str, name: str = "app", **spec: Any) -> None:
        self.apply("OCIRepository", name, {"interval": "1h", "url": url, "insecure": True, **spec})

    def get(self, kind: str, name: str = "app") -> dict[str, Any] | None:
        return objects.get(self.cluster, self.namespace, kind, name)

    def wait(self, probe: Probe, kind: str = "ocirepository", name: str = "app") -> dict[str, Any]:
        """The object once ``probe`` accepts it (the controllers' logs in the failure)."""
        controller = self.kustomize if kind == "kustomization" else self.source

        def check() -> dict[str, Any] | None:
            obj = self.get(kind, name)
            return obj if obj is not None and probe(obj) else None

        return eventually_sync(check, within=90, message=f"{kind}/{name}:\n{controller.output()}")

    def wait_revision(self, revision: str, name: str = "app") -> dict[str, Any]:
        return self.wait(
            lambda obj: (
                _condition_is(obj, "Ready", "True")
                and ((obj or {}).get("status") or {}).get("artifact", {}).get("revision")
                == revision
            ),
            name=name,
        )

    def reconcile(self, token: str) -> None:
        """Request a reconcile of OCIRepository ``app`` and wait until it was handled."""
        objects.request_reconcile(self.cluster, self.namespace, "ocirepository", "app", token)
        self.wait(lambda obj: (obj or {}).get("status", {}).get("lastHandledReconcileAt") == token)


_GROUPS = {
    "OCIRepository": "source.toolkit.fluxcd.io",
    "Kustomization": "kustomize.toolkit.fluxcd.io",
}


def _condition_is(obj: dict[str, Any] | None, type_: str, status: str, reason: str = "") -> bool:
    condition = objects.condition(obj, type_)
    return bool(
        condition and condition["status"] == status and condition["reason"].startswith(reason)
    )


@pytest.fixture
def sources(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    registry: registry_fixtures.Registry,
    controllers: tuple[processes.Controller, processes.Controller],  # noqa: F811
    tmp_path: pathlib.Path,
) -> Sources:
    return Sources(cluster, namespace, registry, *controllers, workdir=tmp_path)


def test_pushed_directory_is_applied_through_an_ocirepository(sources: Sources) -> None:
    url = sources.url("manifests")
    digest = sources.push("pushed", "blue", f"{url}:v1", "main@sha1:0123abcd")
    sources.ocirepository(url, ref={"tag": "v1"})

    obj = sources.wait_revision(f"v1@{digest}")
    artifact = obj["status"]["artifact"]
    assert artifact["metadata"][mediatypes.REVISION_ANNOTATION] == "main@sha1:0123abcd"
    assert artifact["metadata"][mediatypes.SOURCE_ANNOTATION] == "https://git.example/app.git"
    sources.apply(
        "Kustomization", "app",
        {"interval": "1h", "prune": True, "targetNamespace": sources.namespace,
         "sourceRef": {"kind": "OCIRepository", "name": "app"}},
    )  # fmt: skip

    ks = sources.wait(lambda obj: _condition_is(obj, "Ready", "True"), "kustomization")
    assert ks["status"]["lastAppliedRevision"] == f"v1@{digest}"
    configmap = sources.get("configmap", "pushed")
    assert configmap is not None
    assert configmap["data"] == {"color": "blue"}
    reasons = [e["reason"] for e in objects.events(sources.cluster, sources.namespace)]
    assert "NewArtifact" in reasons


def test_semver_picks_the_highest_matching_tag_and_a_new_one(sources: Sources) -> None:
    url = sources.url("versions")
    digests = {
        tag: sources.push("v", tag, f"{url}:{tag}", f"rev-{tag}")
        for tag in ("1.0.0", "1.1.0", "2.0.0-rc.1", "v1.1.5-hotfix", "latest")
    }
    sources.ocirepository(url, ref={"semver": ">=1.0.0", "semverFilter": r"^\d+\.\d+\.\d+$"})
    sources.wait_revision(f"1.1.0@{digests['1.1.0']}")

    newer = sources.push("v", "1.2.0", f"{url}:1.2.0", "rev-1.2.0")
    objects.request_reconcile(sources.cluster, sources.namespace, "ocirepository", "app", "new")
    sources.wait_revision(f"1.2.0@{newer}")


def test_cosign_signed_artifact_is_verified_and_a_tampered_one_refused(sources: Sources) -> None:
    repository = sources.repository("signed")
    url = sources.url("signed")
    host = sources.registry.host
    key = ec.generate_private_key(ec.SECP256R1())
    public = cosignatures.public_pem(key)
    sources.kubectl(
        "create", "secret", "generic", "cosign-keys", f"--from-literal=cosign.pub={public.decode()}"
    )
    signed = sources.push("signed", "green", f"{url}:v1", "rev-1")
    asyncio.run(cosignatures.sign(host, repository, signed, key, signs=signed))
    sources.ocirepository(
        url, ref={"tag": "v1"}, verify={"provider": "cosign", "secretRef": {"name": "cosign-keys"}}
    )

    obj = sources.wait_revision(f"v1@{signed}")
    verified = objects.condition(obj, "SourceVerified")
    assert verified is not None
    assert verified["status"] == "True"
    assert "cosign.pub" in verified["message"]

    # The tag moves to other content; its signature tag gets the old signature.
    tampered = sources.push("signed", "red", f"{url}:v1", "rev-2")
    asyncio.run(cosignatures.sign(host, repository, tampered, key, signs=signed))
    objects.request_reconcile(sources.cluster, sources.namespace, "ocirepository", "app", "t")

    obj = sources.wait(lambda obj: _condition_is(obj, "SourceVerified", "False"))
    assert _condition_is(obj, "Ready", "False", "VerificationError")
    assert obj["status"]["artifact"]["revision"] == f"v1@{signed}"
    warnings = [
        e for e in objects.events(sources.cluster, sources.namespace)
        if e["type"] == "Warning" and e["reason"] == "VerificationError"
    ]  # fmt: skip
    assert warnings
    assert "no signature of" in warnings[-1]["message"]


def test_unchanged_digest_costs_one_request_and_writes_nothing(sources: Sources) -> None:
    url = sources.url("steady")
    digest = sources.push("steady", "blue", f"{url}:stable", "rev")
    storage = sources.workdir / "storage"
    with counting_proxy() as proxy:
        sources.kubectl(
            "create", "secret", "generic", "proxy", f"--from-literal=address={proxy.url}"
        )
        sources.ocirepository(url, ref={"tag": "stable"}, proxySecretRef={"name": "proxy"})
        obj = sources.wait_revision(f"stable@{digest}")
        assert proxy.count() > 1
        stored = sorted(p.name for p in storage.rglob("*") if p.is_file())

        for token in ("again-1", "again-2"):
            before = proxy.count()
            sources.reconcile(token)
            assert proxy.requests[before:] == [
                ("HEAD", f"/v2/{sources.repository('steady')}/manifests/stable")
            ]

    after = sources.get("ocirepository")
    assert after is not None
    assert after["status"]["artifact"] == obj["status"]["artifact"]
    assert sorted(p.name for p in storage.rglob("*") if p.is_file()) == stored


def test_cloud_provider_and_keyless_verification_stall_with_a_message(sources: Sources) -> None:
    url = sources.url("cloud")
    sources.ocirepository(url, provider="aws")

    obj = sources.wait(lambda obj: _condition_is(obj, "Stalled", "True", "InvalidProvider"))
    assert "provider 'aws' is not supported" in str(objects.condition(obj, "Stalled"))

    sources.ocirepository(
        url, provider="generic",
        verify={"provider": "cosign", "matchOIDCIdentity": [{"issuer": ".*", "subject": ".*"}]},
    )  # fmt: skip
    obj = sources.wait(lambda obj: _condition_is(obj, "Stalled", "True", "VerificationError"))
    message = str(objects.condition(obj, "Stalled"))
    assert "keyless cosign verification" in message
    assert "not supported" in message


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
    sources: Sources, secure_registry: registry_fixtures.Registry
) -> None:
    reg = secure_registry
    assert reg.tls is not None
    tree = sources.workdir / "tree"
    tree.mkdir()
    (tree / "config.yaml").write_text(CONFIGMAP.format(name="secure", color="black"))
    tarball = sources.workdir / "layer.tar.gz"
    subprocess.run(["tar", "-czf", str(tarball), "-C", str(tree), "."], check=True)
    digest = asyncio.run(_push_secure(reg, "private/app", tarball.read_bytes()))
    auth = base64.b64encode(f"{reg.username}:{reg.password}".encode()).decode()
    sources.kubectl(
        "create", "secret", "docker-registry", "regcred",
        "--from-file=.dockerconfigjson=/dev/stdin",
        input=json.dumps({"auths": {reg.host: {"auth": auth}}}),
    )  # fmt: skip
    sources.kubectl(
        "create", "secret", "generic", "registry-ca", f"--from-file=ca.crt={reg.tls.ca_cert}"
    )
    sources.apply("ServiceAccount", "puller", {}, imagePullSecrets=[{"name": "regcred"}])
    url = f"oci://{reg.host}/private/app"
    tls_ref = {"certSecretRef": {"name": "registry-ca"}, "insecure": False}
    sources.ocirepository(url, "by-secret", secretRef={"name": "regcred"}, **tls_ref)
    sources.ocirepository(url, "by-account", serviceAccountName="puller", **tls_ref)
    sources.ocirepository(url, "anonymous", **tls_ref)

    for name in ("by-secret", "by-account"):
        sources.wait_revision(f"latest@{digest}", name)
    obj = sources.wait(
        lambda obj: _condition_is(obj, "Ready", "False", "AuthenticationFailed"), name="anonymous"
    )
    assert "401" in str(objects.condition(obj, "Ready"))
