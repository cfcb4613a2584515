"""source-controller as a process: GitRepository → artifact, served over HTTP (and guarded)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import pathlib
import socket
import struct
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.e2e import objects
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures import processes, socksproxy
from tests.fixtures.gitservers import GitServer, RepoBuilder
from tests.fixtures.polling import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def storage_port() -> int:
    return devcluster_fixtures.free_port()


@contextlib.contextmanager
def _source_controller(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    tmp_path: pathlib.Path,
    storage_port: int,
    *flags: str,
    log_encoding: str = "console",
    env: dict[str, str] | None = None,
) -> Iterator[processes.Controller]:
    """source-controller storing under ``tmp_path`` and serving on ``storage_port``."""
    with processes.start_source_controller(
        cluster.kubeconfig, namespace, tmp_path, storage_port, *flags,
        log_encoding=log_encoding, env=env,
    ) as running:  # fmt: skip
        yield running


@pytest.fixture
def controller(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    tmp_path: pathlib.Path,
    storage_port: int,
) -> Iterator[processes.Controller]:
    with _source_controller(
        cluster, namespace, tmp_path, storage_port,
        "--artifact-retention-ttl", "1s", "--artifact-retention-records", "1",
    ) as running:  # fmt: skip
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


def test_environment_proxy_carries_git_fetches(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    tmp_path: pathlib.Path,
    storage_port: int,
    make_repo: Callable[..., RepoBuilder],
    http_server: GitServer,
) -> None:
    """HTTP_PROXY in the controller's environment (a SOCKS5 proxy that alone resolves the
    Git host's name) carries the fetch; the API server on loopback is reached directly."""
    repo = make_repo("proxied.git")
    head = repo.commit("Only commit", {"a.txt": "a"})
    url = http_server.url("proxied.git").replace("127.0.0.1", "git.headwater.test")
    with (
        socksproxy.socks_proxy(hosts={"git.headwater.test": "127.0.0.1"}) as proxy,
        _source_controller(
            cluster, namespace, tmp_path, storage_port,
            env={"HTTP_PROXY": proxy.address, "HTTPS_PROXY": proxy.address, "NO_PROXY": ""},
        ) as running,
    ):  # fmt: skip
        objects.apply(cluster, _gitrepository(namespace, "proxied", url))
        eventually_sync(
            _ready_at(cluster, namespace, "proxied", f"master@sha1:{head}"),
            within=60,
            message=running.output(),
        )
        assert {host for host, _ in proxy.connections} == {"git.headwater.test"}


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


# The artifact server under misbehaving clients: small limits and timeouts set
# by flags, JSON logs at debug level so every line the server writes is seen.

MAX_CONNECTIONS = 4


@pytest.fixture
def strict_controller(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    tmp_path: pathlib.Path,
    storage_port: int,
) -> Iterator[processes.Controller]:
    with _source_controller(
        cluster, namespace, tmp_path, storage_port,
        "--storage-max-connections", str(MAX_CONNECTIONS),
        "--storage-header-timeout", "1s",
        "--storage-idle-timeout", "1s",
        "--storage-send-timeout", "2s",
    ) as running:  # fmt: skip
        yield running


def _connect(url: str) -> socket.socket:
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def _request(url: str, *, method: str = "GET", headers: str = "") -> bytes:
    path = urllib.parse.urlsplit(url).path
    return f"{method} {path} HTTP/1.1\r\nHost: artifacts\r\n{headers}\r\n".encode()


def _read_until_closed(sock: socket.socket) -> bytes:
    """Everything received until the server closes the connection (a 10 s socket timeout)."""
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received


def _json_lines(text: str) -> list[dict[str, Any]]:
    lines = []
    for line in text.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r} in\n{text}") from None
    return lines


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def test_artifact_server_closes_idle_and_slow_connections_and_holds_its_limit(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    strict_controller: processes.Controller,
    make_repo: Callable[..., RepoBuilder],
    http_server: GitServer,
) -> None:
    source = _one_commit_source(cluster, namespace, http_server, make_repo, "limits")
    url = source["status"]["artifact"]["url"]
    # Keep-alive connections, each idle after one request.
    held = [_connect(url) for _ in range(MAX_CONNECTIONS)]
    for sock in held:
        sock.sendall(_request(url, method="HEAD"))
        assert _status(sock.recv(65536)) == 200
    with _connect(url) as excess:
        assert _status(_read_until_closed(excess)) == 503
    with pytest.raises(urllib.error.HTTPError) as refused:
        _download(url)
    assert refused.value.code == 503

    # The idle timeout frees every slot; then a download succeeds again.
    for sock in held:
        with sock:
            assert _read_until_closed(sock) == b""
    assert eventually_sync(lambda: _download(url), within=15)

    with _connect(url) as slow:
        slow.sendall(_request(url).removesuffix(b"\r\n"))  # headers never end
        slow.settimeout(0.1)
        closed = False

        def cut_off() -> bool:
            nonlocal closed
            try:
                slow.sendall(b"X-Slow: 1\r\n")  # trickled, as a slowloris client does
                closed = slow.recv(1) == b""
            except TimeoutError:
                pass
            except ConnectionError:
                closed = True
            return closed

        eventually_sync(cut_off, within=15, interval=0, message="a slowloris client was kept")


def test_artifact_server_answers_range_requests(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controller: processes.Controller,
    make_repo: Callable[..., RepoBuilder],
    http_server: GitServer,
) -> None:
    source = _one_commit_source(cluster, namespace, http_server, make_repo, "ranges")
    url = source["status"]["artifact"]["url"]
    whole = _download(url)
    size = len(whole)

    def fetch(value: str) -> tuple[int, str | None, bytes]:
        request = urllib.request.Request(url, headers={"Range": value})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.headers["Content-Range"], response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers["Content-Range"], b""

    assert fetch("bytes=0-9") == (206, f"bytes 0-9/{size}", whole[:10])
    assert fetch("bytes=-10") == (206, f"bytes {size - 10}-{size - 1}/{size}", whole[-10:])
    assert fetch("bytes=10-") == (206, f"bytes 10-{size - 1}/{size}", whole[10:])
    assert fetch(f"bytes={size}-") == (416, f"bytes */{size}", b"")
    status, content_range, body = fetch("bytes=0-1,5-6")
    assert (status, content_range) == (206, None)
    assert f"Content-Range: bytes 0-1/{size}\r\n\r\n".encode() + whole[0:2] in body
    assert f"Content-Range: bytes 5-6/{size}\r\n\r\n".encode() + whole[5:7] in body


def test_client_disconnect_and_oversize_header_are_single_json_log_lines(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    tmp_path: pathlib.Path,
    storage_port: int,
    make_repo: Callable[..., RepoBuilder],
    http_server: GitServer,
) -> None:
    with _source_controller(
        cluster, namespace, tmp_path, storage_port, "--log-level", "debug", log_encoding="json"
    ) as running:
        repo = make_repo("big.git")
        # Incompressible and larger than the socket buffers: the server is
        # still writing when the client goes away.
        head = repo.commit("A big file", {"big.bin": os.urandom(24 * 1024 * 1024)})
        objects.apply(cluster, _gitrepository(namespace, "big", http_server.url("big.git")))
        ready = _ready_at(cluster, namespace, "big", f"master@sha1:{head}")
        url = eventually_sync(ready, within=90)["status"]["artifact"]["url"]

        with _connect(url) as gone:
            gone.sendall(_request(url))
            assert gone.recv(65536)
            # Reset, not a clean close, mid-download.
            gone.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with _connect(url) as oversize:
            oversize.sendall(_request(url, headers="X-Big: " + "a" * 100_000 + "\r\n"))
            assert _status(_read_until_closed(oversize)) == 400

        def logged(*events: str) -> Callable[[], str | None]:
            def probe() -> str | None:
                text = running.output()
                return text if all(event in text for event in events) else None

            return probe

        # aiohttp reports the oversize header whatever the version; each line is JSON.
        text = eventually_sync(logged("Error handling request"), within=30)
        _json_lines(text)
        text = eventually_sync(logged("download ended early"), within=30, message="no disconnect")
    server = [
        line
        for line in _json_lines(text)
        if line.get("logger", "").startswith(("aiohttp", "shared.artifacts"))
    ]
    assert len(server) >= 2, text
    assert all(line["level"] == "debug" for line in server), server
