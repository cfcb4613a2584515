"""The core GitOps loop as processes: Git → source-controller → kustomize-controller → cluster."""

from __future__ import annotations

import base64
import json
import pathlib
from collections.abc import Callable, Iterator
from typing import Any

import pyrage
import pytest
import yaml

from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures import processes
from tests.fixtures.gitservers import GitServer, RepoBuilder
from tests.fixtures.polling import eventually_sync
from tests.kustomize import sops_vectors

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CONFIGMAP = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}
data:
  color: {color}
"""

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
{annotations}spec:
  replicas: 1
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
        - name: app
          image: ghcr.io/example/app:1.0.0
"""


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
            "controllers.kustomize",
            [*common, "--requeue-dependency", "1s"],
            log=tmp_path / "kustomize-controller.log",
            env=env,
        ) as kustomize,
    ):  # fmt: skip
        yield source, kustomize


def _apply(cluster: devcluster_fixtures.Devcluster, manifest: dict[str, Any]) -> None:
    cluster.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(manifest))


def _get(
    cluster: devcluster_fixtures.Devcluster, namespace: str, kind: str, name: str
) -> dict[str, Any] | None:
    result = cluster.kubectl("get", "-n", namespace, kind, name, "-o", "json", check=False)
    if result.returncode != 0:
        return None
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def _condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    for condition in (obj or {}).get("status", {}).get("conditions", []):
        if condition["type"] == type_:
            return dict(condition)
    return None


def _sources(
    cluster: devcluster_fixtures.Devcluster, namespace: str, url: str, **kustomization: Any
) -> None:
    _apply(
        cluster,
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "repo", "namespace": namespace},
            "spec": {"interval": "1h", "url": url},
        },
    )
    _kustomization(cluster, namespace, "app", **kustomization)


def _kustomization(
    cluster: devcluster_fixtures.Devcluster, namespace: str, name: str, **spec: Any
) -> None:
    _apply(
        cluster,
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "interval": "1h",
                "retryInterval": "2s",
                "prune": True,
                "targetNamespace": namespace,
                "sourceRef": {"kind": "GitRepository", "name": "repo"},
                **spec,
            },
        },
    )


def _ready(
    cluster: devcluster_fixtures.Devcluster, namespace: str, name: str, revision: str
) -> Callable[[], dict[str, Any] | None]:
    def probe() -> dict[str, Any] | None:
        obj = _get(cluster, namespace, "kustomization", name)
        ready = _condition(obj, "Ready")
        if (
            obj
            and ready
            and ready["status"] == "True"
            and obj["status"].get("lastAppliedRevision") == revision
        ):
            return obj
        return None

    return probe


def _failed_with(
    cluster: devcluster_fixtures.Devcluster, namespace: str, name: str, reason: str
) -> Callable[[], dict[str, Any] | None]:
    """A probe for Ready=False with ``reason`` (other failures may come first)."""

    def probe() -> dict[str, Any] | None:
        ready = _condition(_get(cluster, namespace, "kustomization", name), "Ready")
        return ready if ready and ready["status"] == "False" and ready["reason"] == reason else None

    return probe


def _refresh(cluster: devcluster_fixtures.Devcluster, namespace: str, token: str) -> None:
    cluster.kubectl(
        "annotate", "-n", namespace, "gitrepository", "repo", "--overwrite",
        f"reconcile.fluxcd.io/requestedAt={token}",
    )  # fmt: skip


def test_commits_are_applied_pruned_and_drift_is_restored(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controllers: tuple[processes.Controller, processes.Controller],
    make_repo: Callable[..., RepoBuilder],
    http_server: GitServer,
) -> None:
    _, kustomize = controllers
    repo = make_repo("apps.git")
    first = repo.commit(
        "Add config and app",
        {
            "deploy/config.yaml": CONFIGMAP.format(name="config", color="blue"),
            "deploy/extra.yaml": CONFIGMAP.format(name="extra", color="green"),
            "deploy/app.yaml": DEPLOYMENT.format(name="app", annotations=""),
        },
    )
    _sources(cluster, namespace, http_server.url("apps.git"), path="./deploy", wait=True)

    obj = eventually_sync(
        _ready(cluster, namespace, "app", f"master@sha1:{first}"),
        within=90,
        message=f"not applied:\n{kustomize.output()}",
    )
    ids = {e["id"] for e in obj["status"]["inventory"]["entries"]}
    assert ids == {
        f"{namespace}_config__ConfigMap",
        f"{namespace}_extra__ConfigMap",
        f"{namespace}_app_apps_Deployment",
    }
    assert _condition(obj, "Healthy")["status"] == "True"  # type: ignore[index]
    config = _get(cluster, namespace, "configmap", "config")
    assert config is not None
    assert config["metadata"]["labels"] == {
        "kustomize.toolkit.fluxcd.io/name": "app",
        "kustomize.toolkit.fluxcd.io/namespace": namespace,
    }

    # Drift: an edit behind Git's back is restored on the next reconcile.
    cluster.kubectl("patch", "-n", namespace, "configmap", "config", "--type=merge",
                    "-p", '{"data":{"color":"red"}}')  # fmt: skip
    cluster.kubectl("annotate", "-n", namespace, "kustomization", "app", "--overwrite",
                    "reconcile.fluxcd.io/requestedAt=drift")  # fmt: skip
    eventually_sync(
        lambda: (_get(cluster, namespace, "configmap", "config") or {})["data"]["color"] == "blue",
        within=60,
        message=f"drift not restored:\n{kustomize.output()}",
    )
    events = json.loads(cluster.kubectl("get", "-n", namespace, "events", "-o", "json").stdout)
    applied = [e for e in events["items"] if e["reason"] == "ReconciliationSucceeded"]
    assert any(
        (e["metadata"].get("annotations") or {}).get("commitSubject") == "Add config and app"
        and "ConfigMap/" in e["message"]
        for e in applied
    ), applied
    drift_events = [e["message"] for e in events["items"] if "drift" in e["message"]]
    assert any("ConfigMap/" in m and "data.color" in m for m in drift_events), drift_events

    # A commit that changes one object and deletes another.
    repo.remove("deploy/extra.yaml")
    second = repo.commit(
        "Change config, drop extra",
        {"deploy/config.yaml": CONFIGMAP.format(name="config", color="cyan")},
    )
    _refresh(cluster, namespace, "second")
    eventually_sync(_ready(cluster, namespace, "app", f"master@sha1:{second}"), within=90)
    assert (_get(cluster, namespace, "configmap", "config") or {})["data"]["color"] == "cyan"
    eventually_sync(
        lambda: _get(cluster, namespace, "configmap", "extra") is None,
        within=30,
        message="extra was not pruned",
    )

    # Deleting the Kustomization (prune: true) removes what it applied.
    cluster.kubectl("delete", "-n", namespace, "kustomization", "app", "--timeout=60s")
    eventually_sync(
        lambda: (
            _get(cluster, namespace, "configmap", "config") is None
            and _get(cluster, namespace, "deployment", "app") is None
        ),
        within=60,
        message="objects not deleted with the Kustomization",
    )


def test_build_failure_applies_nothing(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controllers: tuple[processes.Controller, processes.Controller],
    make_repo: Callable[..., RepoBuilder],
    http_server: GitServer,
) -> None:
    repo = make_repo("broken.git")
    repo.commit(
        "Broken kustomization",
        {
            "deploy/kustomization.yaml": "resources:\n- config.yaml\n- missing.yaml\n",
            "deploy/config.yaml": CONFIGMAP.format(name="config", color="blue"),
        },
    )
    _sources(cluster, namespace, http_server.url("broken.git"), path="./deploy")

    eventually_sync(_failed_with(cluster, namespace, "app", "BuildFailed"), within=90)
    ready = _condition(_get(cluster, namespace, "kustomization", "app"), "Ready")
    assert ready is not None
    assert "missing.yaml" in ready["message"]
    assert _get(cluster, namespace, "configmap", "config") is None


def test_failing_workload_fails_the_health_check(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controllers: tuple[processes.Controller, processes.Controller],
    make_repo: Callable[..., RepoBuilder],
    http_server: GitServer,
) -> None:
    repo = make_repo("unhealthy.git")
    repo.commit(
        "A deployment that never becomes ready",
        {
            "deploy/app.yaml": DEPLOYMENT.format(
                name="bad",
                annotations="  annotations:\n    devcluster.headwater.dev/simulate: fail\n",
            )
        },
    )
    _sources(
        cluster, namespace, http_server.url("unhealthy.git"), path="./deploy", wait=True,
        timeout="5s",
    )  # fmt: skip

    eventually_sync(_failed_with(cluster, namespace, "app", "HealthCheckFailed"), within=90)
    healthy = _condition(_get(cluster, namespace, "kustomization", "app"), "Healthy")
    assert healthy is not None
    assert healthy["status"] == "False"
    assert "Deployment/" in healthy["message"]


def test_substitution_from_configmap_and_secret(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controllers: tuple[processes.Controller, processes.Controller],
    make_repo: Callable[..., RepoBuilder],
    http_server: GitServer,
) -> None:
    repo = make_repo("vars.git")
    head = repo.commit(
        "Templated config",
        {
            "deploy/config.yaml": CONFIGMAP.format(
                name="config-${env}", color="${color:=grey}-${secret_word}"
            )
        },
    )
    cluster.kubectl("create", "configmap", "vars", "-n", namespace, "--from-literal=env=prod")
    cluster.kubectl(
        "create", "secret", "generic", "secret-vars", "-n", namespace,
        "--from-literal=secret_word=hidden",
    )  # fmt: skip
    _sources(
        cluster, namespace, http_server.url("vars.git"), path="./deploy",
        postBuild={"substituteFrom": [
            {"kind": "ConfigMap", "name": "vars"}, {"kind": "Secret", "name": "secret-vars"},
        ]},
    )  # fmt: skip

    eventually_sync(_ready(cluster, namespace, "app", f"master@sha1:{head}"), within=90)
    config = _get(cluster, namespace, "configmap", "config-prod")
    assert config is not None
    assert config["data"]["color"] == "grey-hidden"


def test_depends_on_orders_and_suspend_pauses(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controllers: tuple[processes.Controller, processes.Controller],
    make_repo: Callable[..., RepoBuilder],
    http_server: GitServer,
) -> None:
    repo = make_repo("layers.git")
    head = repo.commit(
        "Two layers",
        {
            "base/config.yaml": CONFIGMAP.format(name="base", color="blue"),
            "apps/config.yaml": CONFIGMAP.format(name="apps", color="green"),
        },
    )
    _sources(
        cluster, namespace, http_server.url("layers.git"), path="./apps",
        dependsOn=[{"name": "infra"}],
    )  # fmt: skip
    eventually_sync(_failed_with(cluster, namespace, "app", "DependencyNotReady"), within=60)
    assert _get(cluster, namespace, "configmap", "apps") is None

    _kustomization(cluster, namespace, "infra", path="./base")
    eventually_sync(_ready(cluster, namespace, "infra", f"master@sha1:{head}"), within=90)
    eventually_sync(_ready(cluster, namespace, "app", f"master@sha1:{head}"), within=90)

    cluster.kubectl("patch", "-n", namespace, "kustomization", "app", "--type=merge",
                    "-p", '{"spec":{"suspend":true}}')  # fmt: skip
    cluster.kubectl("patch", "-n", namespace, "configmap", "apps", "--type=merge",
                    "-p", '{"data":{"color":"red"}}')  # fmt: skip
    cluster.kubectl("annotate", "-n", namespace, "kustomization", "app", "--overwrite",
                    "reconcile.fluxcd.io/requestedAt=while-suspended")  # fmt: skip
    eventually_sync(
        lambda: (
            (_get(cluster, namespace, "kustomization", "app") or {})["status"].get(
                "lastHandledReconcileAt"
            )
            == "while-suspended"
        ),
        within=30,
    )
    assert (_get(cluster, namespace, "configmap", "apps") or {})["data"]["color"] == "red"
    cluster.kubectl("patch", "-n", namespace, "kustomization", "app", "--type=merge",
                    "-p", '{"spec":{"suspend":false}}')  # fmt: skip
    eventually_sync(
        lambda: (_get(cluster, namespace, "configmap", "apps") or {})["data"]["color"] == "green",
        within=60,
        message="resume did not restore the drifted object",
    )


def test_digest_mismatch_is_an_artifact_failure(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controllers: tuple[processes.Controller, processes.Controller],
    make_repo: Callable[..., RepoBuilder],
    http_server: GitServer,
) -> None:
    repo = make_repo("digest.git")
    head = repo.commit("Config", {"deploy/config.yaml": CONFIGMAP.format(name="c", color="b")})
    _sources(cluster, namespace, http_server.url("digest.git"), path="./deploy")
    eventually_sync(_ready(cluster, namespace, "app", f"master@sha1:{head}"), within=90)
    artifact = (_get(cluster, namespace, "gitrepository", "repo") or {})["status"]["artifact"]
    external = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "ExternalArtifact",
        "metadata": {"name": "tampered", "namespace": namespace},
        "spec": {},
    }
    _apply(cluster, external)
    status = {"status": {"artifact": {**artifact, "digest": "sha256:" + "0" * 64}}}
    cluster.kubectl(
        "patch", "-n", namespace, "externalartifact", "tampered", "--subresource=status",
        "--type=merge", "-p", json.dumps(status),
    )  # fmt: skip
    _kustomization(
        cluster, namespace, "tampered", path="./deploy",
        sourceRef={"kind": "ExternalArtifact", "name": "tampered"},
    )  # fmt: skip

    failed = _failed_with(cluster, namespace, "tampered", "ArtifactFailed")

    def digest_failure() -> dict[str, Any] | None:
        ready = failed()
        return ready if ready is not None and "digest" in ready["message"] else None

    ready = eventually_sync(digest_failure, within=60)
    assert "sha256:" + "0" * 64 in ready["message"]


def test_sops_secret_is_decrypted_and_a_wrong_key_refused(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controllers: tuple[processes.Controller, processes.Controller],
    make_repo: Callable[..., RepoBuilder],
    http_server: GitServer,
) -> None:
    identity = pyrage.x25519.Identity.generate()
    stranger = pyrage.x25519.Identity.generate()
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db"},
        "stringData": {"password": "correct horse battery staple"},
    }
    sealed = sops_vectors.encrypt(
        secret, [identity.to_public()], encrypted_regex="^(data|stringData)$"
    )
    repo = make_repo("sops.git")
    head = repo.commit("Encrypted secret", {"deploy/secret.yaml": yaml.safe_dump(sealed)})
    for name, key in (("right-key", identity), ("wrong-key", stranger)):
        keys = sops_vectors.age_secret(key, name=name)
        keys["metadata"]["namespace"] = namespace
        _apply(cluster, keys)
    _sources(
        cluster, namespace, http_server.url("sops.git"), path="./deploy",
        decryption={"provider": "sops", "secretRef": {"name": "wrong-key"}},
    )  # fmt: skip
    failed = eventually_sync(_failed_with(cluster, namespace, "app", "BuildFailed"), within=90)
    assert "decrypt" in failed["message"].lower()
    assert _get(cluster, namespace, "secret", "db") is None

    _kustomization(
        cluster, namespace, "app", path="./deploy",
        decryption={"provider": "sops", "secretRef": {"name": "right-key"}},
    )  # fmt: skip
    eventually_sync(_ready(cluster, namespace, "app", f"master@sha1:{head}"), within=90)
    applied = _get(cluster, namespace, "secret", "db")
    assert applied is not None
    assert base64.b64decode(applied["data"]["password"]) == b"correct horse battery staple"


def test_kubeconfig_applies_to_a_remote_cluster(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controllers: tuple[processes.Controller, processes.Controller],
    make_repo: Callable[..., RepoBuilder],
    http_server: GitServer,
    tmp_path: pathlib.Path,
) -> None:
    repo = make_repo("remote.git")
    head = repo.commit("Config", {"deploy/config.yaml": CONFIGMAP.format(name="far", color="blue")})
    with devcluster_fixtures.start_devcluster(tmp_path / "remote") as remote:
        remote.kubectl("create", "namespace", namespace)
        cluster.kubectl(
            "create", "secret", "generic", "remote-kubeconfig", "-n", namespace,
            f"--from-file=value={remote.kubeconfig}",
        )  # fmt: skip
        _sources(
            cluster, namespace, http_server.url("remote.git"), path="./deploy",
            kubeConfig={"secretRef": {"name": "remote-kubeconfig"}},
        )  # fmt: skip

        eventually_sync(_ready(cluster, namespace, "app", f"master@sha1:{head}"), within=90)
        far = _get(remote, namespace, "configmap", "far")
        assert far is not None
        assert far["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] == "app"
        assert _get(cluster, namespace, "configmap", "far") is None
