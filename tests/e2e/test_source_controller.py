"""source-controller as a process: GitRepository → artifact, served over HTTP."""

from __future__ import annotations

import hashlib
import io
import pathlib
import tarfile
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.e2e import objects
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures import processes
from tests.fixtures.gitservers import GitServer, RepoBuilder
from tests.fixtures.polling import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def storage_port() -> int:
    return devcluster_fixtures.free_port()


@pytest.fixture
def controller(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    tmp_path: pathlib.Path,
    storage_port: int,
) -> Iterator[processes.Controller]:
    addr = f"127.0.0.1:{storage_port}"
    with processes.start_controller(
        "controllers.source",
        [
            "--kubeconfig",
            str(cluster.kubeconfig),
            "--storage-path",
            str(tmp_path / "storage"),
            "--storage-addr",
            addr,
            "--storage-adv-addr",
            addr,
            "--watch-all-namespaces=false",
            "--artifact-retention-ttl",
            "1s",
            "--artifact-retention-records",
            "1",
        ],
        log=tmp_path / "source-controller.log",
        env={"RUNTIME_NAMESPACE": namespace},
    ) as running:
        yield running


def _gitrepository(namespace: str, name: str, url: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"interval": "1h", "url": url, **spec},
    }


def _get(cluster: devcluster_fixtures.Devcluster, namespace: str, name: str) -> dict[str, Any]:
    """GitRepository ``name``, which the test has applied."""
    obj = objects.get(cluster, namespace, "gitrepository", name)
    assert obj is not None, f"gitrepository {name} not found"
    return obj


def _ready_at(
    cluster: devcluster_fixtures.Devcluster, namespace: str, name: str, revision: str
) -> Callable[[], dict[str, Any] | None]:
    def probe() -> dict[str, Any] | None:
        obj = _get(cluster, namespace, name)
        ready = objects.condition(obj, "Ready")
        artifact = obj.get("status", {}).get("artifact") or {}
        if ready and ready["status"] == "True" and artifact.get("revision") == revision:
            return obj
        return None

    return probe


def _one_commit_source(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    server: GitServer,
    make_repo: Callable[..., RepoBuilder],
    name: str,
) -> dict[str, Any]:
    """GitRepository ``name`` on a one-commit ``name.git``, once its artifact is ready."""
    repo = make_repo(f"{name}.git")
    head = repo.commit("Only commit", {"a.txt": "a"})
    objects.apply(cluster, _gitrepository(namespace, name, server.url(f"{name}.git")))
    return eventually_sync(_ready_at(cluster, namespace, name, f"master@sha1:{head}"), within=60)


def _download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return bytes(response.read())


def _files(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        return {
            member.name: tar.extractfile(member).read()  # type: ignore[union-attr]
            for member in tar.getmembers()
            if member.isfile()
        }


def test_new_commits_become_served_artifacts_and_old_ones_are_collected(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controller: processes.Controller,
    make_repo: Callable[..., RepoBuilder],
    http_server: GitServer,
) -> None:
    repo = make_repo("app.git")
    first = repo.commit(
        "Add the app", {"deploy/app.yaml": "kind: ConfigMap\n", ".sourceignore": "secret.txt\n"}
    )
    repo.write({"secret.txt": "ignored"})
    first = repo.commit("Add an ignored file")
    objects.apply(cluster, _gitrepository(namespace, "app", http_server.url("app.git")))

    obj = eventually_sync(
        _ready_at(cluster, namespace, "app", f"master@sha1:{first}"),
        within=60,
        message=f"no artifact for {first}:\n{controller.output()}",
    )
    artifact = obj["status"]["artifact"]
    archive = _download(artifact["url"])
    assert artifact["digest"] == "sha256:" + hashlib.sha256(archive).hexdigest()
    assert set(_files(archive)) == {"deploy/app.yaml", ".sourceignore"}
    assert artifact["metadata"]["source.headwater.dev/commit-subject"] == "Add an ignored file"
    assert artifact["metadata"]["source.headwater.dev/commit-author"].startswith("Test Author")
    assert obj["metadata"]["finalizers"] == ["finalizers.fluxcd.io"]
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]

    second = repo.commit("Change the app", {"deploy/app.yaml": "kind: Secret\n"})
    objects.request_reconcile(cluster, namespace, "gitrepository", "app", "now-1")
    obj = eventually_sync(_ready_at(cluster, namespace, "app", f"master@sha1:{second}"), within=60)
    new_archive = _download(obj["status"]["artifact"]["url"])
    assert _files(new_archive)["deploy/app.yaml"] == b"kind: Secret\n"
    assert obj["status"]["lastHandledReconcileAt"] == "now-1"
    events = objects.events(cluster, namespace)
    messages = {e["message"] for e in events if e["reason"] == "NewArtifact"}
    assert "stored artifact for commit 'Change the app'" in messages

    def old_removed() -> bool:
        try:
            _download(artifact["url"])
        except urllib.error.HTTPError as error:
            return error.code == 404
        # GC runs on the next packaging; trigger one more reconcile with a new commit.
        return False

    third = repo.commit("Third")
    objects.request_reconcile(cluster, namespace, "gitrepository", "app", "now-2")
    eventually_sync(_ready_at(cluster, namespace, "app", f"master@sha1:{third}"), within=60)
    eventually_sync(old_removed, within=30, message="the first artifact was never collected")


def test_unchanged_remote_is_not_cloned_again(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controller: processes.Controller,
    make_repo: Callable[..., RepoBuilder],
    http_server: GitServer,
) -> None:
    before = _one_commit_source(cluster, namespace, http_server, make_repo, "same")
    http_server.reset_log()

    objects.request_reconcile(cluster, namespace, "gitrepository", "same", "again")
    after = eventually_sync(
        lambda: (
            (o := _get(cluster, namespace, "same"))["status"].get("lastHandledReconcileAt")
            == "again"
            and o
        ),
        within=30,
    )

    assert after["status"]["artifact"] == before["status"]["artifact"]
    requests = http_server.requests()
    assert requests, "the remote was not asked for its refs"
    assert all("git-upload-pack" not in line or line.startswith("GET") for line in requests), (
        requests
    )


def test_unreachable_remote_reports_fetch_failed_and_keeps_the_artifact(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controller: processes.Controller,
    make_repo: Callable[..., RepoBuilder],
    http_server: GitServer,
) -> None:
    good = _one_commit_source(cluster, namespace, http_server, make_repo, "gone")

    dead_port = devcluster_fixtures.free_port()
    objects.apply(
        cluster, _gitrepository(namespace, "gone", f"http://127.0.0.1:{dead_port}/gone.git")
    )

    def fetch_failed() -> dict[str, Any] | None:
        obj = _get(cluster, namespace, "gone")
        failed = objects.condition(obj, "FetchFailed")
        return obj if failed and failed["status"] == "True" else None

    obj = eventually_sync(fetch_failed, within=60, message=controller.output())
    failed = objects.condition(obj, "FetchFailed")
    ready = objects.condition(obj, "Ready")
    assert failed is not None
    assert ready is not None
    assert failed["reason"] == "GitOperationFailed"
    assert str(dead_port) in failed["message"]
    assert (ready["status"], ready["reason"]) == ("False", "GitOperationFailed")
    assert obj["status"]["artifact"] == good["status"]["artifact"]
    assert _download(good["status"]["artifact"]["url"])


def test_missing_secret_and_bad_credentials_fail_readably(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controller: processes.Controller,
    make_repo: Callable[..., RepoBuilder],
    start_http: Callable[..., GitServer],
) -> None:
    repo = make_repo("private.git")
    repo.commit("Only commit", {"a.txt": "a"})
    server = start_http(basic="alice:s3cret")
    objects.apply(
        cluster,
        _gitrepository(
            namespace, "private", server.url("private.git"), secretRef={"name": "creds"}
        ),
    )

    def reason() -> str | None:
        failed = objects.condition(_get(cluster, namespace, "private"), "FetchFailed")
        return failed["reason"] if failed else None

    assert eventually_sync(reason, within=60) == "AuthenticationFailed"
    cluster.kubectl(
        "create", "secret", "generic", "creds", "-n", namespace,
        "--from-literal=username=alice", "--from-literal=password=wrong",
    )  # fmt: skip
    objects.request_reconcile(cluster, namespace, "gitrepository", "private", "retry")

    def denied() -> str | None:
        failed = objects.condition(_get(cluster, namespace, "private"), "FetchFailed")
        return failed["message"] if failed and "s3cret" not in failed["message"] else None

    message = eventually_sync(denied, within=60)
    assert "wrong" not in message


def test_unsupported_provider_stalls_with_a_clear_message(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controller: processes.Controller,
) -> None:
    objects.apply(
        cluster,
        _gitrepository(namespace, "cloud", "https://github.com/org/repo", provider="github"),
    )

    def stalled() -> dict[str, Any] | None:
        return objects.condition(_get(cluster, namespace, "cloud"), "Stalled")

    condition = eventually_sync(stalled, within=60)
    assert condition["reason"] == "InvalidProviderConfiguration"
    assert "provider 'github' is not supported" in condition["message"]
