"""image-automation-controller as a process: ImagePolicy status → a commit pushed to Git.

The ImagePolicies' ``status.latestRef`` is set through the API (no reflector runs).
"""

from __future__ import annotations

import base64
import contextlib
import json
import pathlib
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.e2e import objects
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures import gitservers, processes
from tests.fixtures.polling import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
API_VERSION = "image.toolkit.fluxcd.io/v1"
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web   # the web tier
spec:
  template:
    spec:
      containers:
        - name: web
          image: 'ghcr.io/org/web:1.0.0' # {"$imagepolicy": "NS:web"}
          args: ["--port", "8080"]
"""
KUSTOMIZATION = """\
images:
  - name: web
    newTag: 1.0.0 # {"$imagepolicy": "NS:web:tag"}
"""
RELEASE = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: web
spec:
  values:
    image:
      repository: ghcr.io/org/web # {"$imagepolicy": "NS:web:name"}
      tag: "1.0.0" # {"$imagepolicy": "NS:web:tag"}
"""
TEMPLATE = (
    "Automation {{ .AutomationObject }}\n"
    "{{ range .Changed.Changes }}{{ .OldValue }} -> {{ .NewValue }}\n{{ end }}"
)


@contextlib.contextmanager
def _controller(
    cluster: devcluster_fixtures.Devcluster, namespace: str, tmp_path: pathlib.Path
) -> Iterator[processes.Controller]:
    with processes.start_watching(
        "controllers.image_automation", cluster.kubeconfig, namespace, tmp_path
    ) as running:
        yield running


def _setup(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    url: str,
    *,
    secret: dict[str, str] | None = None,
    push: dict[str, str] | None = None,
    signing_key: str | None = None,
) -> None:
    commit: dict[str, Any] = {
        "author": {"name": "Flux", "email": "flux@example.com"}, "messageTemplate": TEMPLATE,
    }  # fmt: skip
    if signing_key is not None:
        objects.apply(cluster, {
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "signing", "namespace": namespace},
            "data": {"git.asc": base64.b64encode(signing_key.encode()).decode()},
        })  # fmt: skip
        commit["signingKey"] = {"secretRef": {"name": "signing"}}
    if secret is not None:
        objects.apply(cluster, {
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "git", "namespace": namespace},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in secret.items()},
        })  # fmt: skip
    objects.apply(cluster, {
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "apps", "namespace": namespace},
        "spec": {"url": url, "interval": "1h", "ref": {"branch": "master"},
                 **({"secretRef": {"name": "git"}} if secret is not None else {})},
    })  # fmt: skip
    objects.apply(cluster, {
        "apiVersion": API_VERSION, "kind": "ImagePolicy",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"imageRepositoryRef": {"name": "web"}, "policy": {"semver": {"range": "1.x"}}},
    })  # fmt: skip
    _set_latest(cluster, namespace, "1.1.0")
    objects.apply(cluster, {
        "apiVersion": API_VERSION, "kind": "ImageUpdateAutomation",
        "metadata": {"name": "auto", "namespace": namespace},
        "spec": {
            "sourceRef": {"kind": "GitRepository", "name": "apps"},
            "interval": "1h",
            "git": {"commit": commit, **({"push": push} if push else {})},
            "update": {"strategy": "Setters", "path": "./deploy"},
        },
    })  # fmt: skip


def _set_latest(cluster: devcluster_fixtures.Devcluster, namespace: str, tag: str) -> None:
    patch = {"status": {"latestRef": {"name": "ghcr.io/org/web", "tag": tag}}}
    cluster.kubectl(
        "patch", "-n", namespace, "imagepolicy", "web", "--subresource=status",
        "--type=merge", "-p", json.dumps(patch),
    )  # fmt: skip


def _automation(cluster: devcluster_fixtures.Devcluster, namespace: str) -> dict[str, Any]:
    obj = objects.get(cluster, namespace, "imageupdateautomation", "auto")
    assert obj is not None
    return obj


@pytest.fixture
def apps(
    make_repo: Callable[..., gitservers.RepoBuilder], namespace: str
) -> gitservers.RepoBuilder:
    """The repository to automate: a Deployment and a kustomization.yaml with markers."""
    repo = make_repo("apps.git")
    repo.write({
        "deploy/web.yaml": DEPLOYMENT.replace("NS", namespace),
        "deploy/kustomization.yaml": KUSTOMIZATION.replace("NS", namespace),
        "deploy/release.yaml": RELEASE.replace("NS", namespace),
    })  # fmt: skip
    repo.commit("initial")
    return repo


@pytest.fixture
def auth_server(start_http: Callable[..., gitservers.GitServer]) -> gitservers.GitServer:
    """The Git HTTP server, with basic auth user:secret."""
    return start_http(basic="user:secret")


def _pushed(cluster: devcluster_fixtures.Devcluster, namespace: str, commit: str) -> bool:
    status = _automation(cluster, namespace).get("status") or {}
    return bool(status.get("lastPushCommit") == commit)


def test_a_new_tag_is_committed_with_the_template_and_nothing_else_changes(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    apps: gitservers.RepoBuilder,
    auth_server: gitservers.GitServer,
    tmp_path: pathlib.Path,
) -> None:
    repo, server, initial = apps, auth_server, apps.rev("master")
    with _controller(cluster, namespace, tmp_path):
        _setup(cluster, namespace, server.url("apps.git"),
               secret={"username": "user", "password": "secret"})  # fmt: skip
        eventually_sync(
            lambda: repo.rev("master") != initial, within=60, message="a commit is pushed"
        )  # fmt: skip
        first = repo.rev("master")
        eventually_sync(lambda: _pushed(cluster, namespace, first), within=30,
                        message="status.lastPushCommit")  # fmt: skip
        assert repo.git("log", "-1", "--format=%an <%ae>%n%B", "master").strip() == (
            f"Flux <flux@example.com>\nAutomation {namespace}/auto\n"
            "1.0.0 -> 1.1.0\n1.0.0 -> 1.1.0\n"
            "ghcr.io/org/web:1.0.0 -> ghcr.io/org/web:1.1.0"
        )
        diff = repo.git("diff", "-U0", initial, first)
        changed = [line for line in diff.splitlines() if line[:1] in "+-"
                   and not line.startswith(("+++", "---"))]  # fmt: skip
        assert changed == [
            f'-    newTag: 1.0.0 # {{"$imagepolicy": "{namespace}:web:tag"}}',
            f'+    newTag: 1.1.0 # {{"$imagepolicy": "{namespace}:web:tag"}}',
            f'-      tag: "1.0.0" # {{"$imagepolicy": "{namespace}:web:tag"}}',
            f'+      tag: "1.1.0" # {{"$imagepolicy": "{namespace}:web:tag"}}',
            f'-          image: \'ghcr.io/org/web:1.0.0\' # {{"$imagepolicy": "{namespace}:web"}}',
            f'+          image: \'ghcr.io/org/web:1.1.0\' # {{"$imagepolicy": "{namespace}:web"}}',
        ]
        status = _automation(cluster, namespace)["status"]
        assert status["observedPolicies"] == {"web": {"name": "ghcr.io/org/web", "tag": "1.1.0"}}
        assert status["observedSourceRevision"] == f"master@sha1:{initial}"
        assert status["lastPushTime"]
        assert status["lastAutomationRunTime"]
        messages = [e["message"] for e in objects.events(cluster, namespace)]
        assert any(
            m.startswith(f"pushed commit '{first[:7]}' to branch 'master'") for m in messages
        )

        # Nothing to change: a requested run makes no commit.
        objects.request_reconcile(cluster, namespace, "imageupdateautomation", "auto", "again")
        eventually_sync(
            lambda: (_automation(cluster, namespace).get("status") or {}).get(
                "lastHandledReconcileAt") == "again"
            and (_automation(cluster, namespace)["status"].get("observedSourceRevision")
                 == f"master@sha1:{first}"),
            within=30, message="the second run is handled",
        )  # fmt: skip
        assert repo.rev("master") == first

        # A new latestRef requeues the automation at once (interval is 1h).
        _set_latest(cluster, namespace, "1.2.0")
        eventually_sync(lambda: repo.rev("master") != first, within=60,
                        message="the policy change is committed")  # fmt: skip
        assert "1.2.0" in repo.git("show", "master:deploy/kustomization.yaml")


def test_a_signed_push_to_another_branch(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    apps: gitservers.RepoBuilder,
    http_server: gitservers.GitServer,
    gpg_key: gitservers.GpgKey,
    tmp_path: pathlib.Path,
) -> None:
    repo, initial = apps, apps.rev("master")
    private = gitservers.run(
        ["gpg", "--batch", "--armor", "--export-secret-keys", gpg_key.fingerprint],
        env=gitservers.git_env(gpg_key.env()),
    )
    with _controller(cluster, namespace, tmp_path):
        _setup(cluster, namespace, http_server.url("apps.git"), push={"branch": "auto"},
               signing_key=private)  # fmt: skip

        def auto_branch() -> str | None:
            refs = repo.git("for-each-ref", "--format=%(refname:short)", "refs/heads/")
            return repo.rev("auto") if "auto" in refs.split() else None

        pushed = eventually_sync(auto_branch, within=60, message="the auto branch is pushed")
        assert repo.rev("master") == initial
        eventually_sync(lambda: _pushed(cluster, namespace, pushed), within=30,
                        message="status.lastPushCommit")  # fmt: skip
    verified = subprocess.run(
        ["git", f"--git-dir={repo.path}", "verify-commit", "--raw", "auto"],
        env=gitservers.git_env(gpg_key.env()), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    assert f"VALIDSIG {gpg_key.fingerprint}" in verified.stderr


def test_an_ssh_remote_is_pushed_with_the_deploy_key(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    apps: gitservers.RepoBuilder,
    sshd: gitservers.SshServer,
    tmp_path: pathlib.Path,
) -> None:
    repo, initial = apps, apps.rev("master")
    with _controller(cluster, namespace, tmp_path):
        _setup(cluster, namespace, sshd.url("apps.git"),
               secret={"identity": sshd.identity.decode(),
                       "known_hosts": sshd.known_hosts.decode()})  # fmt: skip
        eventually_sync(lambda: repo.rev("master") != initial, within=60,
                        message="a commit is pushed over SSH")  # fmt: skip
        pushed = repo.rev("master")
        eventually_sync(lambda: _pushed(cluster, namespace, pushed), within=30,
                        message="status.lastPushCommit")  # fmt: skip
    assert "1.1.0" in repo.git("show", "master:deploy/kustomization.yaml")


def test_wrong_credentials_are_a_condition_an_event_and_an_error_line(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    apps: gitservers.RepoBuilder,
    auth_server: gitservers.GitServer,
    tmp_path: pathlib.Path,
) -> None:
    repo, server, initial = apps, auth_server, apps.rev("master")
    with _controller(cluster, namespace, tmp_path) as controller:
        _setup(cluster, namespace, server.url("apps.git"),
               secret={"username": "user", "password": "wrong"})  # fmt: skip

        def failed() -> dict[str, Any] | None:
            ready = objects.condition(_automation(cluster, namespace), "Ready")
            return ready if ready and ready["status"] == "False" else None

        ready = eventually_sync(failed, within=60, message="Ready=False")
        assert ready["reason"] == "GitOperationFailed"
        assert "authentication to" in ready["message"]
        assert ready["message"].endswith("failed")
        warnings = [e for e in objects.events(cluster, namespace) if e["type"] == "Warning"]
        assert any(e["reason"] == "GitOperationFailed" for e in warnings)
        eventually_sync(
            lambda: any("Reconciliation failed" in line and "GitOperationFailed" in line
                        for line in controller.output().splitlines()),
            within=10, message="an error log line",
        )  # fmt: skip
        assert "wrong" not in controller.output()
    assert repo.rev("master") == initial
