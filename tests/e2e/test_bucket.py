"""Bucket end to end: each provider's emulator → source-controller → kustomize-controller.

S3 (``generic``) is moto's server, ``azure`` is Azurite, ``gcp`` is
gcp-storage-emulator; each Bucket becomes Ready at Flux's revision and a
Kustomization applies what it holds.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
from typing import Any

import pytest
from azure.storage.blob import ContainerSasPermissions, generate_container_sas

from tests.e2e import objects
from tests.e2e import test_kustomize_controller as loops
from tests.e2e.test_kustomize_controller import CONFIGMAP, Loop
from tests.fixtures import azurite as azurite_fixtures
from tests.fixtures import countingproxy, credentials, gcsemulator, s3
from tests.fixtures.polling import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
controllers = loops.controllers
kustomize_flags = loops.kustomize_flags
loop = loops.loop
s3_server = s3.s3_server
azurite = azurite_fixtures.azurite
gcs_emulator = gcsemulator.gcs_emulator


def _digest(index: dict[str, str]) -> str:
    lines = "".join(f"{k} {index[k]}\n" for k in sorted(index))
    return "sha256:" + hashlib.sha256(lines.encode()).hexdigest()


def _secret(loop: Loop, name: str, data: dict[str, str]) -> None:
    objects.apply(
        loop.cluster,
        {"apiVersion": "v1", "kind": "Secret",
         "metadata": {"name": name, "namespace": loop.namespace},
         "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}},
    )  # fmt: skip


def _applied(loop: Loop, configmap: str, color: str) -> None:
    eventually_sync(
        lambda: (loop.get("configmap", configmap) or {}).get("data", {}).get("color") == color,
        within=60,
        message=loop.kustomize.output(),
    )


def _revision(server: s3.S3Server, bucket: str, keys: set[str]) -> str:
    """Flux's revision of ``keys``: sha256 over sorted ``<key> <etag>`` lines."""
    listed = server.client().list_objects_v2(Bucket=bucket)["Contents"]
    etags = {o["Key"]: o["ETag"].strip('"') for o in listed if o["Key"] in keys}
    lines = "".join(f"{k} {etags[k]}\n" for k in sorted(etags))
    return "sha256:" + hashlib.sha256(lines.encode()).hexdigest()


def _bucket(loop: Loop, name: str, **spec: Any) -> None:
    objects.apply(
        loop.cluster,
        {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "Bucket",
         "metadata": {"name": name, "namespace": loop.namespace},
         "spec": {"interval": "1h", **spec}},
    )  # fmt: skip


def _ready_at(loop: Loop, name: str, revision: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        obj = loop.get("bucket", name)
        ready = objects.condition(obj, "Ready")
        artifact = ((obj or {}).get("status") or {}).get("artifact") or {}
        ok = ready and ready["status"] == "True" and artifact.get("revision") == revision
        return obj if ok else None

    found: dict[str, Any] = eventually_sync(probe, within=60, message=f"bucket {name}")
    return found


def test_bucket_is_fetched_and_applied_and_follows_changes(
    loop: Loop, s3_server: s3.S3Server
) -> None:
    name = f"{loop.namespace}-manifests"
    s3_server.client().create_bucket(Bucket=name)
    s3_server.put(
        name,
        {
            "deploy/config.yaml": CONFIGMAP.format(name="from-bucket", color="blue"),
            "deploy/extra.yaml": CONFIGMAP.format(name="extra", color="green"),
            "deploy/notes.md": "ignored by .sourceignore\n",
            "deploy/skip.yaml": CONFIGMAP.format(name="skipped", color="x"),
            "other/elsewhere.yaml": CONFIGMAP.format(name="outside", color="x"),
            ".sourceignore": "*.md\n",
        },
    )
    _secret(loop, "s3-keys", {"accesskey": s3.ACCESS_KEY, "secretkey": s3.SECRET_KEY})
    _bucket(
        loop, "manifests", bucketName=name, endpoint=s3_server.endpoint, insecure=True,
        prefix="deploy/", ignore="skip.yaml", secretRef={"name": "s3-keys"},
    )  # fmt: skip

    first = _revision(s3_server, name, {"deploy/config.yaml", "deploy/extra.yaml"})
    obj = _ready_at(loop, "manifests", first)
    assert obj["status"]["url"].endswith("/latest.tar.gz")
    loop.kustomization("app", path="./deploy", sourceRef={"kind": "Bucket", "name": "manifests"})
    eventually_sync(
        lambda: (loop.get("configmap", "from-bucket") or {}).get("data", {}).get("color") == "blue",
        within=60,
        message=loop.kustomize.output(),
    )
    assert loop.get("configmap", "extra") is not None
    assert loop.get("configmap", "outside") is None
    assert loop.get("configmap", "skipped") is None

    s3_server.put(name, {"deploy/config.yaml": CONFIGMAP.format(name="from-bucket", color="red")})
    second = _revision(s3_server, name, {"deploy/config.yaml", "deploy/extra.yaml"})
    assert second != first
    objects.request_reconcile(loop.cluster, loop.namespace, "bucket", "manifests", "second")
    _ready_at(loop, "manifests", second)
    objects.request_reconcile(loop.cluster, loop.namespace, "kustomization", "app", "second")
    eventually_sync(
        lambda: (loop.get("configmap", "from-bucket") or {}).get("data", {}).get("color") == "red",
        within=60,
        message=loop.kustomize.output(),
    )
    # The unchanged object (reused from the previous artifact) is still applied.
    assert (loop.get("configmap", "extra") or {})["data"]["color"] == "green"


def test_azure_container_with_an_account_key_is_fetched_and_applied(
    loop: Loop, azurite: azurite_fixtures.Azurite
) -> None:
    container = f"{loop.namespace}-az"[:63]
    azurite.put(container, {
        "deploy/config.yaml": CONFIGMAP.format(name="from-azure", color="blue"),
        "deploy/readme.md": "dropped by spec.ignore\n",
        "other/x.yaml": CONFIGMAP.format(name="outside", color="x"),
    })  # fmt: skip
    _secret(loop, "azure-key", {"accountKey": azurite_fixtures.ACCOUNT_KEY})
    _bucket(loop, "azure", provider="azure", bucketName=container, endpoint=azurite.endpoint,
            prefix="deploy/", ignore="*.md", secretRef={"name": "azure-key"})  # fmt: skip

    sas = generate_container_sas(
        azurite_fixtures.ACCOUNT, container, account_key=azurite_fixtures.ACCOUNT_KEY,
        permission=ContainerSasPermissions(read=True, list=True),
        expiry=datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1),
    )  # fmt: skip
    _secret(loop, "azure-sas", {"sasKey": sas})
    _bucket(loop, "azure-sas", provider="azure", bucketName=container,
            endpoint=azurite.endpoint, prefix="deploy/", ignore="*.md",
            secretRef={"name": "azure-sas"})  # fmt: skip

    listed = azurite.service().get_container_client(container).list_blobs()
    # Flux's index holds the hex of each blob's ETag text.
    index = {b.name: b.etag.encode().hex() for b in listed if b.name == "deploy/config.yaml"}
    _ready_at(loop, "azure", _digest(index))
    _ready_at(loop, "azure-sas", _digest(index))
    loop.kustomization("azure-app", path="./deploy", sourceRef={"kind": "Bucket", "name": "azure"})
    _applied(loop, "from-azure", "blue")
    assert loop.get("configmap", "outside") is None


def test_gcs_bucket_is_fetched_and_follows_changes(
    loop: Loop, gcs_emulator: gcsemulator.GcsEmulator
) -> None:
    bucket = f"{loop.namespace}-gcs"
    gcs_emulator.create_bucket(bucket)
    gcs_emulator.put(bucket, {"config.yaml": CONFIGMAP.format(name="from-gcs", color="blue")})
    _bucket(loop, "gcs", provider="gcp", bucketName=bucket, endpoint=gcs_emulator.endpoint,
            insecure=True)  # fmt: skip

    _ready_at(loop, "gcs", _digest(gcs_emulator.etags(bucket)))
    loop.kustomization("gcs-app", path="./", sourceRef={"kind": "Bucket", "name": "gcs"})
    _applied(loop, "from-gcs", "blue")

    gcs_emulator.put(bucket, {"config.yaml": CONFIGMAP.format(name="from-gcs", color="red")})
    objects.request_reconcile(loop.cluster, loop.namespace, "bucket", "gcs", "second")
    _ready_at(loop, "gcs", _digest(gcs_emulator.etags(bucket)))
    objects.request_reconcile(loop.cluster, loop.namespace, "kustomization", "gcs-app", "second")
    _applied(loop, "from-gcs", "red")


def test_missing_bucket_wrong_secret_and_workload_identity_are_reported(
    loop: Loop, s3_server: s3.S3Server, azurite: azurite_fixtures.Azurite
) -> None:
    _bucket(loop, "missing", bucketName="does-not-exist", endpoint=s3_server.endpoint,
            insecure=True)  # fmt: skip
    _secret(loop, "not-azure", {"username": "u"})
    _bucket(loop, "wrong-secret", provider="azure", bucketName="x", endpoint=azurite.endpoint,
            secretRef={"name": "not-azure"})  # fmt: skip
    _bucket(loop, "identity", provider="aws", bucketName="x", endpoint=s3_server.endpoint,
            serviceAccountName="irsa")  # fmt: skip

    def reason(bucket: str, wanted: str) -> dict[str, Any] | None:
        ready = objects.condition(loop.get("bucket", bucket), "Ready")
        return ready if ready and ready["reason"] == wanted else None

    missing = eventually_sync(lambda: reason("missing", "BucketOperationFailed"), within=60)
    assert "bucket 'does-not-exist' not found" in missing["message"], missing
    wrong = eventually_sync(lambda: reason("wrong-secret", "AuthenticationFailed"), within=60)
    assert "invalid 'not-azure' secret data" in wrong["message"], wrong
    identity = eventually_sync(lambda: reason("identity", "FeatureGateDisabled"), within=60)
    assert "serviceAccountName" in identity["message"], identity
    stalled = objects.condition(loop.get("bucket", "identity"), "Stalled")
    assert stalled is not None
    assert stalled["status"] == "True"


def test_cert_secret_ref_and_proxy_secret_ref_reach_the_endpoint(
    loop: Loop, s3_server: s3.S3Server, tmp_path_factory: pytest.TempPathFactory
) -> None:
    material = credentials.make_tls_material(tmp_path_factory.mktemp("bucket-tls"))
    keys = {"accesskey": s3.ACCESS_KEY, "secretkey": s3.SECRET_KEY}
    _secret(loop, "keys", keys)
    _secret(loop, "ca", {"ca.crt": material.ca_cert.read_text()})
    with s3.start_s3_server(tls=material) as tls_server, countingproxy.counting_proxy() as proxy:
        for server, bucket in ((tls_server, "over-tls"), (s3_server, "via-proxy")):
            server.client().create_bucket(Bucket=bucket)
            server.put(bucket, {"a.yaml": CONFIGMAP.format(name=bucket, color="x")})
        _secret(loop, "proxy", {"address": proxy.url})
        _bucket(loop, "tls", bucketName="over-tls", endpoint=tls_server.endpoint,
                secretRef={"name": "keys"}, certSecretRef={"name": "ca"})  # fmt: skip
        _bucket(loop, "proxied", bucketName="via-proxy", endpoint=s3_server.endpoint,
                insecure=True, secretRef={"name": "keys"},
                proxySecretRef={"name": "proxy"})  # fmt: skip

        _ready_at(loop, "tls", _revision(tls_server, "over-tls", {"a.yaml"}))
        _ready_at(loop, "proxied", _revision(s3_server, "via-proxy", {"a.yaml"}))
        assert ("GET", "/via-proxy/a.yaml") in proxy.requests
