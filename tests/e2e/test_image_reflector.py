"""image-reflector-controller as a process: registry tags → ImageRepository → ImagePolicies."""

from __future__ import annotations

import base64
import contextlib
import json
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e import objects
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures import processes
from tests.fixtures import registry as registry_fixtures
from tests.fixtures.polling import eventually_sync
from tests.fixtures.registry import Registry

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
API_VERSION = "image.toolkit.fluxcd.io/v1"
registry = registry_fixtures.registry
secure_registry = registry_fixtures.secure_registry
push = registry_fixtures.push


@contextlib.contextmanager
def _controller(
    cluster: devcluster_fixtures.Devcluster, namespace: str, tmp_path: pathlib.Path
) -> Iterator[processes.Controller]:
    with processes.start_watching(
        "controllers.image_reflector", cluster.kubeconfig, namespace, tmp_path,
        "--storage-path", str(tmp_path / "tags"),
    ) as running:  # fmt: skip
        yield running


def _repository(namespace: str, name: str, image: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "ImageRepository",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"image": image, "interval": "1h", **spec},
    }


def _policy(namespace: str, name: str, repository: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "ImagePolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"imageRepositoryRef": {"name": repository}, **spec},
    }


def _ready(
    cluster: devcluster_fixtures.Devcluster, namespace: str, kind: str, name: str
) -> dict[str, Any] | None:
    obj = objects.get(cluster, namespace, kind, name)
    ready = objects.condition(obj, "Ready")
    generation = (obj or {}).get("metadata", {}).get("generation")
    if ready is None or ready["status"] != "True":
        return None
    if (obj or {}).get("status", {}).get("observedGeneration") != generation:
        return None
    return obj


def _handled(obj: dict[str, Any] | None, token: str) -> dict[str, Any] | None:
    """``obj`` once its status says the reconcile requested with ``token`` ran."""
    handled = ((obj or {}).get("status") or {}).get("lastHandledReconcileAt")
    return obj if handled == token else None


def _digest(obj: dict[str, Any] | None) -> str | None:
    """``status.latestRef.digest`` of an ImagePolicy, if any."""
    digest: str | None = (((obj or {}).get("status") or {}).get("latestRef") or {}).get("digest")
    return digest


def _latest_tag(cluster: devcluster_fixtures.Devcluster, namespace: str, name: str) -> str | None:
    obj = _ready(cluster, namespace, "imagepolicy", name)
    ref = ((obj or {}).get("status") or {}).get("latestRef") or {}
    tag: str | None = ref.get("tag")
    return tag


TAGS = ["1.0.0", "1.2.0", "v1.3.0", "2.0.0-rc.1", "main-abc-100", "main-def-99", "x.sig"]


def test_policies_elect_tags_and_follow_a_new_push(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    registry: Registry,
    tmp_path: pathlib.Path,
) -> None:
    digests = push(registry, f"{namespace}/app", TAGS)
    image = f"{registry.host}/{namespace}/app"
    with _controller(cluster, namespace, tmp_path):
        objects.apply(cluster, _repository(namespace, "app", image, insecure=True))
        repo = eventually_sync(
            lambda: _ready(cluster, namespace, "imagerepository", "app"),
            within=60, message="ImageRepository Ready",
        )  # fmt: skip
        scan = repo["status"]["lastScanResult"]
        assert scan["tagCount"] == len(TAGS) - 1  # the .sig tag is excluded by default
        assert scan["latestTags"] == sorted(TAGS[:-1], reverse=True)
        assert repo["status"]["canonicalImageName"] == image
        assert repo["status"]["observedExclusionList"] == ["^.*\\.sig$"]
        policies: dict[str, dict[str, Any]] = {
            "semver": {"policy": {"semver": {"range": "^1.0"}},
                       "digestReflectionPolicy": "IfNotPresent"},
            "alpha-desc": {"policy": {"alphabetical": {"order": "desc"}}},
            "alpha-asc": {"policy": {"alphabetical": {"order": "asc"}}},
            "numerical": {"policy": {"numerical": {"order": "asc"}},
                          "filterTags": {"pattern": "^main-[a-f0-9]+-(?P<ts>[0-9]+)$",
                                         "extract": "$ts"}},
        }  # fmt: skip
        expected = {
            "semver": "v1.3.0", "alpha-desc": "1.0.0", "alpha-asc": "v1.3.0",
            "numerical": "main-abc-100",
        }  # fmt: skip
        for name, spec in policies.items():
            objects.apply(cluster, _policy(namespace, name, "app", **spec))
        eventually_sync(
            lambda: all(_latest_tag(cluster, namespace, n) == t for n, t in expected.items()),
            within=30, message=f"the policies elect {expected}",
        )  # fmt: skip
        semver = objects.get(cluster, namespace, "imagepolicy", "semver")
        assert semver is not None
        assert semver["status"]["latestRef"] == {
            "name": image, "tag": "v1.3.0", "digest": digests["v1.3.0"]}  # fmt: skip

        new_digest = push(registry, f"{namespace}/app", ["1.4.0"])["1.4.0"]
        objects.request_reconcile(cluster, namespace, "imagerepository", "app", "rescan-1")
        eventually_sync(
            lambda: _latest_tag(cluster, namespace, "semver") == "1.4.0",
            within=30, message="the new tag is elected after a scan",
        )  # fmt: skip
        semver = objects.get(cluster, namespace, "imagepolicy", "semver")
        assert semver is not None
        assert semver["status"]["latestRef"]["digest"] == new_digest
        assert semver["status"]["observedPreviousRef"]["tag"] == "v1.3.0"
        rescanned = objects.get(cluster, namespace, "imagerepository", "app")
        assert rescanned is not None
        assert rescanned["status"]["lastScanResult"]["tagCount"] == len(TAGS)
        messages = [e["message"] for e in objects.events(cluster, namespace)]
        assert f"Latest image tag for '{image}' updated from v1.3.0 to 1.4.0" in messages

        # A rebuilt tag: Always reads the digest every interval, IfNotPresent keeps it.
        objects.apply(cluster, _policy(
            namespace, "always", "app", policy={"semver": {"range": "^1.0"}},
            digestReflectionPolicy="Always", interval="1s"))  # fmt: skip
        eventually_sync(
            lambda: _digest(_ready(cluster, namespace, "imagepolicy", "always")) == new_digest,
            within=30, message="the Always policy reads the digest",
        )  # fmt: skip
        rebuilt = push(registry, f"{namespace}/app", ["1.4.0"], build="-rebuilt")["1.4.0"]
        assert rebuilt != new_digest
        eventually_sync(
            lambda: _digest(objects.get(cluster, namespace, "imagepolicy", "always")) == rebuilt,
            within=30, message="the Always policy follows the rebuilt tag",
        )  # fmt: skip
        objects.request_reconcile(cluster, namespace, "imagepolicy", "semver", "after-rebuild")
        semver = eventually_sync(
            lambda: _handled(
                objects.get(cluster, namespace, "imagepolicy", "semver"), "after-rebuild"),
            within=30, message="the IfNotPresent policy reconciled again",
        )  # fmt: skip
        assert _digest(semver) == new_digest


def test_exclusion_list_and_a_wrong_password(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    registry: Registry,
    secure_registry: Registry,
    tmp_path: pathlib.Path,
) -> None:
    push(registry, f"{namespace}/excl", ["1.0.0", "1.1.0", "latest", "dev-1"])
    push(secure_registry, f"{namespace}/private", ["3.0.0", "3.1.0"])
    assert secure_registry.tls is not None
    ca = base64.b64encode(secure_registry.tls.ca_cert.read_bytes()).decode()

    def docker_secret(name: str, password: str) -> dict[str, Any]:
        auth = {"auths": {secure_registry.host: {
            "username": secure_registry.username, "password": password}}}  # fmt: skip
        return {
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
            "metadata": {"name": name, "namespace": namespace},
            "data": {".dockerconfigjson": base64.b64encode(json.dumps(auth).encode()).decode()},
        }  # fmt: skip

    objects.apply(cluster, docker_secret("wrong", "not-the-password"))
    objects.apply(cluster, docker_secret("right", secure_registry.password))
    objects.apply(cluster, {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ca", "namespace": namespace},
        "data": {"ca.crt": ca},
    })  # fmt: skip
    with _controller(cluster, namespace, tmp_path) as controller:
        objects.apply(cluster, _repository(
            namespace, "excl", f"{registry.host}/{namespace}/excl", insecure=True,
            exclusionList=["^latest$", "^dev-"], interval="2s"))  # fmt: skip
        private = f"{secure_registry.host}/{namespace}/private"
        objects.apply(cluster, _repository(
            namespace, "denied", private, secretRef={"name": "wrong"},
            certSecretRef={"name": "ca"}))  # fmt: skip
        objects.apply(cluster, _repository(
            namespace, "allowed", private, secretRef={"name": "right"},
            certSecretRef={"name": "ca"}))  # fmt: skip
        excl = eventually_sync(
            lambda: _ready(cluster, namespace, "imagerepository", "excl"), within=60,
            message="excl Ready")  # fmt: skip
        assert excl["status"]["lastScanResult"]["tagCount"] == 2
        assert excl["status"]["observedExclusionList"] == ["^latest$", "^dev-"]
        push(registry, f"{namespace}/excl", ["1.2.0", "dev-2"])
        eventually_sync(  # the next scan, 2s later, with no request
            lambda: (_ready(cluster, namespace, "imagerepository", "excl") or {})
            .get("status", {}).get("lastScanResult", {}).get("tagCount") == 3,
            within=30, message="the interval's next scan finds 1.2.0",
        )  # fmt: skip
        allowed = eventually_sync(
            lambda: _ready(cluster, namespace, "imagerepository", "allowed"), within=60,
            message="allowed Ready")  # fmt: skip
        assert allowed["status"]["lastScanResult"]["tagCount"] == 2

        def refused() -> dict[str, Any] | None:
            obj = objects.get(cluster, namespace, "imagerepository", "denied")
            ready = objects.condition(obj, "Ready")
            return ready if ready and ready["status"] == "False" else None

        ready = eventually_sync(refused, within=60, message="denied Ready=False")
        assert ready["reason"] == "AuthenticationFailed"
        assert "401" in ready["message"] or "unauthorized" in ready["message"].lower()
        warnings = [
            e for e in objects.events(cluster, namespace)
            if e["type"] == "Warning" and e["reason"] == "AuthenticationFailed"
        ]  # fmt: skip
        assert warnings
        eventually_sync(
            lambda: "AuthenticationFailed" in controller.output(), within=15,
            message="the failure is logged")  # fmt: skip


def test_the_tag_store_survives_a_restart_without_a_rescan(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    registry: Registry,
    tmp_path: pathlib.Path,
) -> None:
    push(registry, f"{namespace}/kept", ["1.0.0", "1.1.0"])
    with _controller(cluster, namespace, tmp_path):
        objects.apply(cluster, _repository(
            namespace, "kept", f"{registry.host}/{namespace}/kept", insecure=True))  # fmt: skip
        objects.apply(cluster, _policy(
            namespace, "kept", "kept", policy={"semver": {"range": "1.x"}}))  # fmt: skip
        eventually_sync(
            lambda: _latest_tag(cluster, namespace, "kept") == "1.1.0",
            within=30, message="policy elects 1.1.0",
        )  # fmt: skip
        before = objects.get(cluster, namespace, "imagerepository", "kept")
        assert before is not None
    push(registry, f"{namespace}/kept", ["1.2.0"])  # not seen: no scan is due yet
    with _controller(cluster, namespace, tmp_path):
        objects.request_reconcile(cluster, namespace, "imagepolicy", "kept", "after-restart")
        policy = eventually_sync(
            lambda: _handled(objects.get(cluster, namespace, "imagepolicy", "kept"),
                             "after-restart"),
            within=30, message="the policy reconciled after the restart",
        )  # fmt: skip
        assert objects.condition(policy, "Ready")["status"] == "True"  # type: ignore[index]
        assert policy["status"]["latestRef"]["tag"] == "1.1.0"
        after = objects.get(cluster, namespace, "imagerepository", "kept")
        assert after is not None
        assert after["status"]["lastScanResult"] == before["status"]["lastScanResult"]
