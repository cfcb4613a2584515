"""Bucket end to end: an S3 API (moto's server) → source-controller → kustomize-controller."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from tests.e2e import objects
from tests.e2e import test_kustomize_controller as loops
from tests.e2e.test_kustomize_controller import CONFIGMAP, Loop
from tests.fixtures import s3
from tests.fixtures.polling import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
controllers = loops.controllers
kustomize_flags = loops.kustomize_flags
loop = loops.loop
s3_server = s3.s3_server


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
    credentials = {"accesskey": s3.ACCESS_KEY, "secretkey": s3.SECRET_KEY}
    objects.apply(
        loop.cluster,
        {"apiVersion": "v1", "kind": "Secret",
         "metadata": {"name": "s3-keys", "namespace": loop.namespace},
         "data": {k: base64.b64encode(v.encode()).decode() for k, v in credentials.items()}},
    )  # fmt: skip
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


def test_missing_bucket_and_unsupported_provider_are_reported(
    loop: Loop, s3_server: s3.S3Server
) -> None:
    _bucket(loop, "missing", bucketName="does-not-exist", endpoint=s3_server.endpoint,
            insecure=True)  # fmt: skip
    _bucket(loop, "cloud", provider="gcp", bucketName="x", endpoint="storage.googleapis.com")

    def reason(bucket: str, wanted: str) -> dict[str, Any] | None:
        ready = objects.condition(loop.get("bucket", bucket), "Ready")
        return ready if ready and ready["reason"] == wanted else None

    missing = eventually_sync(lambda: reason("missing", "BucketOperationFailed"), within=60)
    assert "does-not-exist" in missing["message"], missing
    cloud = eventually_sync(lambda: reason("cloud", "InvalidProviderConfiguration"), within=60)
    assert "'gcp' is not supported" in cloud["message"], cloud
    stalled = objects.condition(loop.get("bucket", "cloud"), "Stalled")
    assert stalled is not None
    assert stalled["status"] == "True"
