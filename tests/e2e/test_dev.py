"""``headwater dev up|status|down`` and the Git server it runs, as real processes."""

from __future__ import annotations

import json
import pathlib
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
import yaml

from headwater import dev, devprocesses
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures import recording
from tests.fixtures import registry as registry_fixtures
from tests.fixtures.polling import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
REPO = pathlib.Path(__file__).resolve().parents[2]
GIT_ENV = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1", "PATH": "/usr/bin:/bin"}


def _headwater(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "headwater.cli.main", *args],
        cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def _start_dev_up(layout: dev.Layout, *extra: str) -> subprocess.Popen[str]:
    """``headwater dev up`` on ``layout``, output piped; the caller stops it by PID."""
    return subprocess.Popen(
        [sys.executable, "-m", "headwater.cli.main", "dev", "up", "--state-dir", str(layout.root),
         *extra],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _wait_ready(layout: dev.Layout, process: subprocess.Popen[str], *, within: float) -> None:
    deadline = time.monotonic() + within
    while not (dev.read_run(layout) or {}).get("ready"):
        assert process.poll() is None, f"dev up exited:\n{process.communicate()[0]}"
        assert time.monotonic() < deadline, f"dev up not ready in {within}s"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dev.Layout]:
    """One ``headwater dev up`` for the module; stopped by PID at the end."""
    layout = dev.Layout(tmp_path_factory.mktemp("dev") / "state")
    process = _start_dev_up(layout)
    try:
        _wait_ready(layout, process, within=120)
        yield layout
    finally:
        record = dev.read_run(layout) or {}
        devprocesses_stop = [record.get("supervisor"), *(record.get("children") or {}).values()]
        devcluster_fixtures.stop_process(process, grace=60)
        for child in devprocesses_stop:
            if child:
                devprocesses.terminate(devprocesses.Identity.from_json(child), grace=15)


def _git(cwd: pathlib.Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-c", "user.name=T", "-c", "user.email=t@example.invalid", *args],
        cwd=cwd, env=GIT_ENV, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_status_lists_every_process_as_ready(environment: dev.Layout) -> None:
    result = _headwater("dev", "status", "--state-dir", str(environment.root))

    assert result.returncode == 0, result.stdout + result.stderr
    for name in (
        "devcluster", "gitserver", "registry", "notification-controller", "source-controller",
        "kustomize-controller", "helm-controller", "image-reflector-controller",
        "image-automation-controller",
    ):  # fmt: skip
        assert any(
            line.split()[:1] == [name] and line.split()[2] == "ready"
            for line in result.stdout.splitlines()
        ), result.stdout


def test_the_registry_takes_a_push_and_lists_its_tags(
    environment: dev.Layout, tmp_path: pathlib.Path
) -> None:
    ports = json.loads(environment.ports_file.read_text())
    url = f"oci://127.0.0.1:{ports['registry']}/manifests"
    (tmp_path / "app.yaml").write_text("apiVersion: v1\nkind: ConfigMap\n")

    pushed = _headwater("artifact", "push", f"{url}:v1", "--path", str(tmp_path),
                        "--source", "test", "--revision", "v1", "--insecure")  # fmt: skip
    listed = _headwater("artifact", "list", url, "--insecure")

    assert pushed.returncode == 0, pushed.stderr
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split("\n")[1].split()[0] == f"127.0.0.1:{ports['registry']}/manifests:v1"
    assert (environment.registry / "storage").is_dir()


def test_crds_and_the_runtime_namespace_are_installed(environment: dev.Layout) -> None:
    crds = dev.kubectl(environment, "get", "crd", "-o", "name")
    namespace = dev.kubectl(environment, "get", "namespace", dev.RUNTIME_NAMESPACE)

    assert (
        "customresourcedefinition.apiextensions.k8s.io/kustomizations.kustomize.toolkit.fluxcd.io"
        in crds.stdout
    )
    assert "gitrepositories.source.toolkit.fluxcd.io" in crds.stdout
    assert namespace.returncode == 0, namespace.stderr


def test_the_controllers_events_reach_the_notification_controller(
    environment: dev.Layout,
) -> None:
    ports = json.loads(environment.ports_file.read_text())
    namespace = dev.RUNTIME_NAMESPACE
    with recording.serving({}) as provider:
        manifests = [
            {"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
             "metadata": {"name": "dev-hook", "namespace": namespace},
             "spec": {"type": "generic", "address": f"{provider.url}/hook"}},
            {"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert",
             "metadata": {"name": "dev-sources", "namespace": namespace},
             "spec": {"providerRef": {"name": "dev-hook"}, "eventSeverity": "error",
                      "eventSources": [{"kind": "GitRepository", "name": "missing"}]}},
            # A repository the Git server does not have: source-controller's
            # fetch fails and it posts an error event.
            {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
             "metadata": {"name": "missing", "namespace": namespace},
             "spec": {"url": f"http://127.0.0.1:{ports['git']}/missing.git", "interval": "1m",
                      "ref": {"branch": "main"}}},
        ]  # fmt: skip
        for manifest in manifests:
            applied = dev.kubectl(environment, "apply", "-f", "-", input=json.dumps(manifest))
            assert applied.returncode == 0, applied.stderr

        eventually_sync(lambda: ("POST", "/hook") in provider.requests, within=60)


def test_the_cluster_state_with_its_secrets_is_private(environment: dev.Layout) -> None:
    secret = dev.kubectl(
        environment, "create", "secret", "generic", "private-state", "-n", dev.RUNTIME_NAMESPACE,
        "--from-literal=token=s3cret",
    )  # fmt: skip
    assert secret.returncode == 0, secret.stderr
    state = sorted(environment.data.glob("devcluster.sqlite3*"))
    names = {path.name for path in state}
    assert {"devcluster.sqlite3", "devcluster.sqlite3-wal", "devcluster.sqlite3-shm"} <= names
    private = [*state, environment.kubeconfig]
    modes = {path.name: oct(stat.S_IMODE(path.stat().st_mode)) for path in private}
    assert set(modes.values()) == {"0o600"}, modes


def test_a_push_creates_the_repository_and_a_clone_reads_it_back(
    environment: dev.Layout, tmp_path: pathlib.Path
) -> None:
    port = json.loads(environment.ports_file.read_text())["git"]
    url = f"http://127.0.0.1:{port}/team/app.git"
    work = tmp_path / "work"
    work.mkdir()
    _git(work, "init", "--quiet", "--initial-branch=main")
    (work / "app.yaml").write_text("kind: ConfigMap\n")
    _git(work, "add", "app.yaml")
    _git(work, "commit", "--quiet", "-m", "first")
    _git(work, "push", "--quiet", url, "main")
    _git(tmp_path, "clone", "--quiet", url, "clone")

    assert (tmp_path / "clone" / "app.yaml").read_text() == "kind: ConfigMap\n"
    assert (environment.git / "team" / "app.git" / "HEAD").exists()


@pytest.mark.parametrize(
    "path",
    ["missing.git/info/refs?service=git-upload-pack", "../escape.git/info/refs", "notrepo/x"],
)
def test_the_git_server_refuses_what_is_not_a_repository(
    environment: dev.Layout, path: str
) -> None:
    port = json.loads(environment.ports_file.read_text())["git"]
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/{path}", timeout=10)

    assert refused.value.code == 404
    assert not (environment.git / "missing.git").exists()


def test_an_image_pushed_to_the_registry_is_scanned_and_elected(environment: dev.Layout) -> None:
    port = json.loads(environment.ports_file.read_text())["registry"]
    image = f"127.0.0.1:{port}/team/web"
    registry_fixtures.push(registry_fixtures.Endpoint(host=f"127.0.0.1:{port}"), "team/web",
                           ["1.0.0", "1.1.0", "2.0.0"])  # fmt: skip
    manifests = [
        {"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageRepository",
         "metadata": {"name": "web", "namespace": dev.RUNTIME_NAMESPACE},
         "spec": {"image": image, "interval": "1m", "insecure": True}},
        {"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImagePolicy",
         "metadata": {"name": "web", "namespace": dev.RUNTIME_NAMESPACE},
         "spec": {"imageRepositoryRef": {"name": "web"}, "policy": {"semver": {"range": "1.x"}}}},
    ]  # fmt: skip
    for manifest in manifests:
        applied = dev.kubectl(environment, "apply", "--server-side", "-f", "-",
                              input=json.dumps(manifest))  # fmt: skip
        assert applied.returncode == 0, applied.stderr

    def latest() -> str | None:
        got = dev.kubectl(environment, "get", "-n", dev.RUNTIME_NAMESPACE, "imagepolicy", "web",
                          "-o", "jsonpath={.status.latestRef.tag}")  # fmt: skip
        return got.stdout or None

    assert eventually_sync(latest, within=60, message="the policy elects a tag") == "1.1.0"
    scanned = dev.kubectl(environment, "get", "-n", dev.RUNTIME_NAMESPACE, "imagerepository",
                          "web", "-o", "jsonpath={.status.lastScanResult.tagCount}")  # fmt: skip
    assert scanned.stdout == "3"
    assert (environment.registry / "storage" / "docker" / "registry" / "v2" / "repositories"
            / "team" / "web").is_dir()  # fmt: skip


def test_a_second_up_in_the_same_directory_is_refused(environment: dev.Layout) -> None:
    result = _headwater("dev", "up", "--state-dir", str(environment.root))

    assert result.returncode == 1
    assert "already running" in result.stderr


def test_down_stops_the_supervisor_and_every_child(tmp_path: pathlib.Path) -> None:
    layout = dev.Layout(tmp_path / "state")
    process = _start_dev_up(layout)
    try:
        _wait_ready(layout, process, within=120)
        record = dev.read_run(layout) or {}
        children = [devprocesses.Identity.from_json(c) for c in record["children"].values()]

        result = _headwater("dev", "down", "--state-dir", str(layout.root))
        process.wait(timeout=30)

        assert result.returncode == 0, result.stderr
        assert process.returncode == 0
        assert len(children) == 9  # devcluster, git server, registry, six controllers
        assert not [c for c in children if c.alive()]
        assert not layout.run_file.exists()
        assert _headwater("dev", "status", "--state-dir", str(layout.root)).returncode == 1
    finally:
        devcluster_fixtures.stop_process(process, grace=60)


def _as_controller(layout: dev.Layout, controller: str, method: str, path: str) -> tuple[int, str]:
    """(status, body) of one request with the token of ``controller``'s kubeconfig."""
    config = yaml.safe_load((layout.root / f"kubeconfig-{controller}").read_text())
    server = config["clusters"][0]["cluster"]["server"]
    token = config["users"][0]["user"]["token"]
    body = json.dumps({"metadata": {"name": "probe"}}).encode() if method == "POST" else None
    request = urllib.request.Request(
        server + path, data=body, method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_up_with_rbac_runs_each_controller_as_its_service_account(tmp_path: pathlib.Path) -> None:
    layout = dev.Layout(tmp_path / "state")
    process = _start_dev_up(layout, "--rbac")
    try:
        _wait_ready(layout, process, within=120)
        record = dev.read_run(layout) or {}
        command = pathlib.Path(f"/proc/{record['children']['source-controller']['pid']}/cmdline")
        configmaps = "/api/v1/namespaces/default/configmaps"

        listed = _as_controller(layout, "source-controller", "GET", configmaps)
        created = _as_controller(layout, "source-controller", "POST", configmaps)
        admin_like = _as_controller(layout, "kustomize-controller", "POST", configmaps)

        assert str(layout.root / "kubeconfig-source-controller") in command.read_text()
        assert listed[0] == 200
        assert created[0] == 403
        assert json.loads(created[1])["message"] == (
            'configmaps is forbidden: User "system:serviceaccount:flux-system:source-controller" '
            'cannot create resource "configmaps" in API group "" in the namespace "default"'
        )
        assert admin_like[0] == 201
    finally:
        _headwater("dev", "down", "--state-dir", str(layout.root))
        devcluster_fixtures.stop_process(process, grace=60)
