"""The core GitOps loop as processes: Git → source-controller → kustomize-controller → cluster."""

from __future__ import annotations

import base64
import dataclasses
import json
import pathlib
from collections.abc import Callable, Iterator
from typing import Any

import pyrage
import pytest
import yaml

from tests.e2e import objects
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
def kustomize_flags() -> list[str]:
    """kustomize-controller's flags beyond the common ones (tests parametrize it)."""
    return []


@pytest.fixture
def controllers(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    tmp_path: pathlib.Path,
    kustomize_flags: list[str],
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
            [*common, "--requeue-dependency", "1s", *kustomize_flags],
            log=tmp_path / "kustomize-controller.log",
            env=env,
        ) as kustomize,
    ):  # fmt: skip
        yield source, kustomize


@dataclasses.dataclass(frozen=True)
class Loop:
    """One test's GitOps loop: its namespace, the Git server, the running controllers.

    The sources it makes are a GitRepository ``repo`` and Kustomizations pulling
    from it, all in ``namespace``; revisions are of the ``master`` branch.
    """

    cluster: devcluster_fixtures.Devcluster
    namespace: str
    kustomize: processes.Controller
    make_repo: Callable[..., RepoBuilder]
    git: GitServer

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        return objects.get(self.cluster, self.namespace, kind, name)

    def kubectl(self, *args: str) -> None:
        """kubectl in the test's namespace."""
        self.cluster.kubectl("-n", self.namespace, *args)

    def sources(self, repo: str, **kustomization: Any) -> None:
        """GitRepository ``repo`` on the served ``repo``, and Kustomization ``app`` from it."""
        objects.apply(
            self.cluster,
            {
                "apiVersion": "source.toolkit.fluxcd.io/v1",
                "kind": "GitRepository",
                "metadata": {"name": "repo", "namespace": self.namespace},
                "spec": {"interval": "1h", "url": self.git.url(repo)},
            },
        )
        self.kustomization("app", **kustomization)

    def kustomization(self, name: str, **spec: Any) -> None:
        objects.apply(
            self.cluster,
            {
                "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
                "kind": "Kustomization",
                "metadata": {"name": name, "namespace": self.namespace},
                "spec": {
                    "interval": "1h",
                    "retryInterval": "2s",
                    "prune": True,
                    "targetNamespace": self.namespace,
                    "sourceRef": {"kind": "GitRepository", "name": "repo"},
                    **spec,
                },
            },
        )

    def wait_ready(
        self, name: str, commit: str, *, within: float = 90, message: str = ""
    ) -> dict[str, Any]:
        """Kustomization ``name`` once Ready=True with ``commit`` applied."""

        def probe() -> dict[str, Any] | None:
            obj = self.get("kustomization", name)
            ready = objects.condition(obj, "Ready")
            if (
                obj
                and ready
                and ready["status"] == "True"
                and obj["status"].get("lastAppliedRevision") == f"master@sha1:{commit}"
            ):
                return obj
            return None

        return eventually_sync(probe, within=within, message=message)

    def failed_with(self, name: str, reason: str) -> Callable[[], dict[str, Any] | None]:
        """A probe for Ready=False with ``reason`` (other failures may come first)."""

        def probe() -> dict[str, Any] | None:
            ready = objects.condition(self.get("kustomization", name), "Ready")
            return (
                ready
                if ready and ready["status"] == "False" and ready["reason"] == reason
                else None
            )

        return probe


@pytest.fixture
def loop(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controllers: tuple[processes.Controller, processes.Controller],
    make_repo: Callable[..., RepoBuilder],
    http_server: GitServer,
) -> Loop:
    return Loop(
        cluster=cluster,
        namespace=namespace,
        kustomize=controllers[1],
        make_repo=make_repo,
        git=http_server,
    )


def test_commits_are_applied_pruned_and_drift_is_restored(loop: Loop) -> None:
    repo = loop.make_repo("apps.git")
    first = repo.commit(
        "Add config and app",
        {
            "deploy/config.yaml": CONFIGMAP.format(name="config", color="blue"),
            "deploy/extra.yaml": CONFIGMAP.format(name="extra", color="green"),
            "deploy/app.yaml": DEPLOYMENT.format(name="app", annotations=""),
        },
    )
    loop.sources("apps.git", path="./deploy", wait=True)

    obj = loop.wait_ready("app", first, message=f"not applied:\n{loop.kustomize.output()}")
    ids = {e["id"] for e in obj["status"]["inventory"]["entries"]}
    assert ids == {
        f"{loop.namespace}_config__ConfigMap",
        f"{loop.namespace}_extra__ConfigMap",
        f"{loop.namespace}_app_apps_Deployment",
    }
    assert objects.condition(obj, "Healthy")["status"] == "True"  # type: ignore[index]
    config = loop.get("configmap", "config")
    assert config is not None
    assert config["metadata"]["labels"] == {
        "kustomize.toolkit.fluxcd.io/name": "app",
        "kustomize.toolkit.fluxcd.io/namespace": loop.namespace,
    }

    # Drift: an edit behind Git's back is restored on the next reconcile.
    loop.kubectl("patch", "configmap", "config", "--type=merge", "-p", '{"data":{"color":"red"}}')
    objects.request_reconcile(loop.cluster, loop.namespace, "kustomization", "app", "drift")
    eventually_sync(
        lambda: (loop.get("configmap", "config") or {})["data"]["color"] == "blue",
        within=60,
        message=f"drift not restored:\n{loop.kustomize.output()}",
    )
    events = objects.events(loop.cluster, loop.namespace)
    applied = [e for e in events if e["reason"] == "Progressing"]
    assert any(
        (e["metadata"].get("annotations") or {}).get("commitSubject") == "Add config and app"
        and "ConfigMap/" in e["message"]
        for e in applied
    ), applied
    drift_events = [e["message"] for e in events if "drift" in e["message"]]
    assert any("ConfigMap/" in m and "data.color" in m for m in drift_events), drift_events

    # A commit that changes one object and deletes another.
    repo.remove("deploy/extra.yaml")
    second = repo.commit(
        "Change config, drop extra",
        {"deploy/config.yaml": CONFIGMAP.format(name="config", color="cyan")},
    )
    objects.request_reconcile(loop.cluster, loop.namespace, "gitrepository", "repo", "second")
    loop.wait_ready("app", second)
    assert (loop.get("configmap", "config") or {})["data"]["color"] == "cyan"
    eventually_sync(
        lambda: loop.get("configmap", "extra") is None,
        within=30,
        message="extra was not pruned",
    )

    # Deleting the Kustomization (prune: true) removes what it applied.
    loop.kubectl("delete", "kustomization", "app", "--timeout=60s")
    eventually_sync(
        lambda: loop.get("configmap", "config") is None and loop.get("deployment", "app") is None,
        within=60,
        message="objects not deleted with the Kustomization",
    )


def test_build_failure_applies_nothing(loop: Loop) -> None:
    repo = loop.make_repo("broken.git")
    repo.commit(
        "Broken kustomization",
        {
            "deploy/kustomization.yaml": "resources:\n- config.yaml\n- missing.yaml\n",
            "deploy/config.yaml": CONFIGMAP.format(name="config", color="blue"),
        },
    )
    loop.sources("broken.git", path="./deploy")

    eventually_sync(loop.failed_with("app", "BuildFailed"), within=90)
    ready = objects.condition(loop.get("kustomization", "app"), "Ready")
    assert ready is not None
    assert "missing.yaml" in ready["message"]
    assert loop.get("configmap", "config") is None


def test_failing_workload_fails_the_health_check(loop: Loop) -> None:
    repo = loop.make_repo("unhealthy.git")
    head = repo.commit(
        "A deployment that never becomes ready",
        {
            "deploy/app.yaml": DEPLOYMENT.format(
                name="bad",
                annotations="  annotations:\n    devcluster.headwater.dev/simulate: fail\n",
            )
        },
    )
    loop.sources("unhealthy.git", path="./deploy", wait=True, timeout="15s")

    def in_progress() -> dict[str, Any] | None:
        obj = loop.get("kustomization", "app")
        ready = objects.condition(obj, "Ready")
        reconciling = objects.condition(obj, "Reconciling")
        waiting = reconciling and reconciling["message"].startswith("Running health checks")
        if ready and ready["status"] == "Unknown" and waiting:
            return {"ready": ready, "reconciling": reconciling}
        return None

    waiting = eventually_sync(in_progress, within=60, message="no progress during the wait")
    assert (waiting["ready"]["status"], waiting["ready"]["message"]) == (
        "Unknown",
        "Reconciliation in progress",
    )
    assert waiting["reconciling"]["message"] == (
        f"Running health checks for revision master@sha1:{head} with a timeout of 15s"
    )
    eventually_sync(loop.failed_with("app", "HealthCheckFailed"), within=90)
    healthy = objects.condition(loop.get("kustomization", "app"), "Healthy")
    assert healthy is not None
    assert healthy["status"] == "False"
    assert "Deployment/" in healthy["message"]


@pytest.mark.parametrize(
    "kustomize_flags", [["--feature-gates=CancelHealthCheckOnNewRevision=true"]]
)
def test_a_new_revision_cancels_a_health_check_wait(loop: Loop) -> None:
    """With the gate, a fix pushed for a rollout that never becomes ready is applied at
    once, not after the 10 minute timeout; the canceled wait is announced as Flux does."""
    repo = loop.make_repo("rollout.git")
    # NB: pods that stay Pending: the wait neither ends nor fails fast by itself.
    pending = "  annotations:\n    devcluster.headwater.dev/simulate: pending\n"
    repo.commit("A rollout that never becomes ready", {
        "deploy/app.yaml": DEPLOYMENT.format(name="app", annotations=pending),
    })  # fmt: skip
    loop.sources("rollout.git", path="./deploy", wait=True, timeout="10m")

    def waiting() -> bool:
        reconciling = objects.condition(loop.get("kustomization", "app"), "Reconciling")
        return bool(reconciling and reconciling["message"].startswith("Running health checks"))

    eventually_sync(waiting, within=60, message="the health check wait never started")
    new_image = DEPLOYMENT.format(name="app", annotations="").replace("1.0.0", "1.0.1")
    fixed = repo.commit("The fix: a new image", {"deploy/app.yaml": new_image})
    objects.request_reconcile(loop.cluster, loop.namespace, "gitrepository", "repo", fixed)

    loop.wait_ready("app", fixed, within=90)
    canceled = [
        e for e in objects.events(loop.cluster, loop.namespace)
        if e["reason"] == "HealthCheckCanceled" and e["involvedObject"]["name"] == "app"
    ]  # fmt: skip
    assert [(e["type"], e["message"]) for e in canceled] == [(
        "Normal",
        "Health checks canceled due to new reconciliation triggered by "
        f"GitRepository/{loop.namespace}/repo",
    )]  # fmt: skip


def test_substitution_from_configmap_and_secret(loop: Loop) -> None:
    repo = loop.make_repo("vars.git")
    head = repo.commit(
        "Templated config",
        {
            "deploy/config.yaml": CONFIGMAP.format(
                name="config-${env}", color="${color:=grey}-${secret_word}"
            )
        },
    )
    loop.kubectl("create", "configmap", "vars", "--from-literal=env=prod")
    loop.kubectl("create", "secret", "generic", "secret-vars", "--from-literal=secret_word=hidden")
    loop.sources(
        "vars.git", path="./deploy",
        postBuild={"substituteFrom": [
            {"kind": "ConfigMap", "name": "vars"}, {"kind": "Secret", "name": "secret-vars"},
        ]},
    )  # fmt: skip

    loop.wait_ready("app", head)
    config = loop.get("configmap", "config-prod")
    assert config is not None
    assert config["data"]["color"] == "grey-hidden"


def _unset_variable_source(loop: Loop) -> str:
    repo = loop.make_repo("unset.git")
    head = repo.commit(
        "A variable nothing sets",
        {"deploy/config.yaml": CONFIGMAP.format(name="config", color="x${undefined_color}")},
    )
    loop.sources("unset.git", path="./deploy", postBuild={"substitute": {"unused": "1"}})
    return head


def test_unset_variable_fails_the_build_by_default(loop: Loop) -> None:
    """StrictPostBuildSubstitutions is on by default, as in Flux 2.9."""
    _unset_variable_source(loop)
    eventually_sync(loop.failed_with("app", "BuildFailed"), within=90)
    ready = objects.condition(loop.get("kustomization", "app"), "Ready")
    assert ready is not None
    assert 'variable not set (strict mode): "undefined_color"' in ready["message"]
    assert loop.get("configmap", "config") is None


@pytest.mark.parametrize(
    "kustomize_flags", [["--feature-gates=StrictPostBuildSubstitutions=false"]]
)
def test_strict_substitutions_gate_off_expands_unset_variables_empty(loop: Loop) -> None:
    head = _unset_variable_source(loop)
    loop.wait_ready("app", head)
    assert (loop.get("configmap", "config") or {})["data"]["color"] == "x"


def test_depends_on_orders_and_suspend_pauses(loop: Loop) -> None:
    repo = loop.make_repo("layers.git")
    head = repo.commit(
        "Two layers",
        {
            "base/config.yaml": CONFIGMAP.format(name="base", color="blue"),
            "apps/config.yaml": CONFIGMAP.format(name="apps", color="green"),
        },
    )
    loop.sources("layers.git", path="./apps", dependsOn=[{"name": "infra"}])
    eventually_sync(loop.failed_with("app", "DependencyNotReady"), within=60)
    assert loop.get("configmap", "apps") is None

    loop.kustomization("infra", path="./base")
    loop.wait_ready("infra", head)
    loop.wait_ready("app", head)

    loop.kubectl("patch", "kustomization", "app", "--type=merge", "-p", '{"spec":{"suspend":true}}')
    loop.kubectl("patch", "configmap", "apps", "--type=merge", "-p", '{"data":{"color":"red"}}')
    objects.request_reconcile(
        loop.cluster, loop.namespace, "kustomization", "app", "while-suspended"
    )
    eventually_sync(
        lambda: (
            (loop.get("kustomization", "app") or {})["status"].get("lastHandledReconcileAt")
            == "while-suspended"
        ),
        within=30,
    )
    assert (loop.get("configmap", "apps") or {})["data"]["color"] == "red"
    loop.kubectl(
        "patch", "kustomization", "app", "--type=merge", "-p", '{"spec":{"suspend":false}}'
    )
    eventually_sync(
        lambda: (loop.get("configmap", "apps") or {})["data"]["color"] == "green",
        within=60,
        message="resume did not restore the drifted object",
    )


def test_digest_mismatch_is_an_artifact_failure(loop: Loop) -> None:
    repo = loop.make_repo("digest.git")
    head = repo.commit("Config", {"deploy/config.yaml": CONFIGMAP.format(name="c", color="b")})
    loop.sources("digest.git", path="./deploy")
    loop.wait_ready("app", head)
    artifact = (loop.get("gitrepository", "repo") or {})["status"]["artifact"]
    external = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "ExternalArtifact",
        "metadata": {"name": "tampered", "namespace": loop.namespace},
        "spec": {},
    }
    objects.apply(loop.cluster, external)
    status = {"status": {"artifact": {**artifact, "digest": "sha256:" + "0" * 64}}}
    loop.kubectl(
        "patch", "externalartifact", "tampered", "--subresource=status",
        "--type=merge", "-p", json.dumps(status),
    )  # fmt: skip
    loop.kustomization(
        "tampered", path="./deploy", sourceRef={"kind": "ExternalArtifact", "name": "tampered"}
    )

    failed = loop.failed_with("tampered", "ArtifactFailed")

    def digest_failure() -> dict[str, Any] | None:
        ready = failed()
        return ready if ready is not None and "digest" in ready["message"] else None

    ready = eventually_sync(digest_failure, within=60)
    assert "sha256:" + "0" * 64 in ready["message"]


def test_sops_secret_is_decrypted_and_a_wrong_key_refused(loop: Loop) -> None:
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
    repo = loop.make_repo("sops.git")
    head = repo.commit("Encrypted secret", {"deploy/secret.yaml": yaml.safe_dump(sealed)})
    for name, key in (("right-key", identity), ("wrong-key", stranger)):
        keys = sops_vectors.age_secret(key, name=name)
        keys["metadata"]["namespace"] = loop.namespace
        objects.apply(loop.cluster, keys)
    loop.sources(
        "sops.git", path="./deploy",
        decryption={"provider": "sops", "secretRef": {"name": "wrong-key"}},
    )  # fmt: skip
    failed = eventually_sync(loop.failed_with("app", "BuildFailed"), within=90)
    assert "decrypt" in failed["message"].lower()
    assert loop.get("secret", "db") is None

    loop.kustomization(
        "app", path="./deploy",
        decryption={"provider": "sops", "secretRef": {"name": "right-key"}},
    )  # fmt: skip
    loop.wait_ready("app", head)
    applied = loop.get("secret", "db")
    assert applied is not None
    assert base64.b64decode(applied["data"]["password"]) == b"correct horse battery staple"


def test_kubeconfig_applies_to_a_remote_cluster(loop: Loop, tmp_path: pathlib.Path) -> None:
    repo = loop.make_repo("remote.git")
    head = repo.commit("Config", {"deploy/config.yaml": CONFIGMAP.format(name="far", color="blue")})
    with devcluster_fixtures.start_devcluster(tmp_path / "remote") as remote:
        remote.kubectl("create", "namespace", loop.namespace)
        loop.kubectl(
            "create", "secret", "generic", "remote-kubeconfig",
            f"--from-file=value={remote.kubeconfig}",
        )  # fmt: skip
        loop.sources(
            "remote.git", path="./deploy", kubeConfig={"secretRef": {"name": "remote-kubeconfig"}}
        )

        loop.wait_ready("app", head)
        far = objects.get(remote, loop.namespace, "configmap", "far")
        assert far is not None
        assert far["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] == "app"
        assert loop.get("configmap", "far") is None


def test_kubeconfig_with_an_exec_plugin_is_refused(loop: Loop, tmp_path: pathlib.Path) -> None:
    """A kubeconfig Secret may not run a command in the controller (the flag is not given)."""
    marker = tmp_path / "exec-ran"
    config = yaml.safe_load(loop.cluster.kubeconfig.read_text())
    config["users"][0]["user"] = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "sh",
            "args": ["-c", f"touch {marker}"],
        }
    }
    kubeconfig = tmp_path / "exec-kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    loop.kubectl(
        "create", "secret", "generic", "exec-kubeconfig", f"--from-file=value={kubeconfig}"
    )
    repo = loop.make_repo("exec.git")
    repo.commit("Config", {"deploy/config.yaml": CONFIGMAP.format(name="never", color="red")})
    loop.sources("exec.git", path="./deploy", kubeConfig={"secretRef": {"name": "exec-kubeconfig"}})

    failed = eventually_sync(loop.failed_with("app", "ReconciliationFailed"), within=90)
    assert "uses exec" in failed["message"]
    assert "--insecure-kubeconfig-exec" in failed["message"]
    assert not marker.exists()
    assert loop.get("configmap", "never") is None
