"""source-controller as a process: HelmRepository indexes and HelmChart packages.

Against the devcluster and real servers on 127.0.0.1: a chart repository
(``tests.fixtures.chartrepos``, charts packaged by the Helm SDK) with basic
auth or TLS, and a Git server for charts kept in Git.
"""

from __future__ import annotations

import contextlib
import io
import json
import pathlib
import tarfile
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from tests.e2e import objects
from tests.fixtures import chartrepos, credentials, processes
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures.gitservers import GitServer, RepoBuilder
from tests.fixtures.polling import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
USER = ("helm", "s3cret")


@contextlib.contextmanager
def _controller(
    cluster: devcluster_fixtures.Devcluster, namespace: str, tmp_path: pathlib.Path, *flags: str
) -> Iterator[processes.Controller]:
    addr = f"127.0.0.1:{devcluster_fixtures.free_port()}"
    with processes.start_controller(
        "controllers.source",
        [
            "--kubeconfig", str(cluster.kubeconfig),
            "--storage-path", str(tmp_path / "storage"),
            "--storage-addr", addr,
            "--storage-adv-addr", addr,
            "--watch-all-namespaces=false",
            *flags,
        ],
        log=tmp_path / "source-controller.log",
        env={"RUNTIME_NAMESPACE": namespace},
        log_encoding="console",
    ) as running:  # fmt: skip
        yield running


@pytest.fixture
def controller(
    cluster: devcluster_fixtures.Devcluster, namespace: str, tmp_path: pathlib.Path
) -> Iterator[processes.Controller]:
    with _controller(cluster, namespace, tmp_path) as running:
        yield running


@pytest.fixture
def repo(tmp_path: pathlib.Path) -> Iterator[chartrepos.ChartRepository]:
    """A chart repository with basic auth holding ``podinfo`` 6.0.3."""
    with chartrepos.serving(tmp_path / "charts", basic=USER) as serving:
        serving.add_chart("podinfo", "6.0.3", files={"values-prod.yaml": "replicas: 3\n"})
        serving.write_index()
        yield serving


def _secret(
    cluster: devcluster_fixtures.Devcluster, namespace: str, name: str, **data: str
) -> None:
    args = [f"--from-literal={k}={v}" for k, v in data.items() if not v.startswith("@")]
    args += [f"--from-file={k}={v[1:]}" for k, v in data.items() if v.startswith("@")]
    cluster.kubectl("create", "secret", "generic", name, "-n", namespace, *args)


def _helmrepository(namespace: str, name: str, url: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmRepository",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"interval": "1h", "url": url, **spec},
    }


def _helmchart(
    namespace: str, name: str, chart: str, kind: str, source: str, **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmChart",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "interval": "1h",
            "chart": chart,
            "sourceRef": {"kind": kind, "name": source},
            **spec,
        },
    }


def _ready(
    cluster: devcluster_fixtures.Devcluster, namespace: str, kind: str, name: str,
    revision: str | None = None,
) -> Callable[[], dict[str, Any] | None]:  # fmt: skip
    def probe() -> dict[str, Any] | None:
        obj = objects.get(cluster, namespace, kind, name)
        ready = objects.condition(obj, "Ready")
        artifact = ((obj or {}).get("status") or {}).get("artifact") or {}
        if (
            ready
            and ready["status"] == "True"
            and (revision is None or artifact.get("revision") == revision)
        ):
            return obj
        return None

    return probe


def _condition(
    cluster: devcluster_fixtures.Devcluster, namespace: str, kind: str, name: str,
    type_: str, reason: str,
) -> Callable[[], dict[str, Any] | None]:  # fmt: skip
    def probe() -> dict[str, Any] | None:
        found = objects.condition(objects.get(cluster, namespace, kind, name), type_)
        return found if found and found["status"] == "True" and found["reason"] == reason else None

    return probe


def _handled(
    cluster: devcluster_fixtures.Devcluster, namespace: str, kind: str, name: str, token: str
) -> None:
    """Wait until the reconcile requested with ``token`` is done."""
    eventually_sync(
        lambda: (
            ((objects.get(cluster, namespace, kind, name) or {}).get("status") or {}).get(
                "lastHandledReconcileAt"
            )
            == token
        ),
        within=30,
    )


def _download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return bytes(response.read())


def _chart_files(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]


def _authenticated_repository(
    cluster: devcluster_fixtures.Devcluster, namespace: str, repo: chartrepos.ChartRepository
) -> dict[str, Any]:
    _secret(cluster, namespace, "creds", username=USER[0], password=USER[1])
    objects.apply(
        cluster, _helmrepository(namespace, "charts", repo.url, secretRef={"name": "creds"})
    )
    return eventually_sync(_ready(cluster, namespace, "helmrepository", "charts"), within=60)


def test_a_repository_index_and_a_chart_from_it_become_artifacts(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controller: processes.Controller,
    repo: chartrepos.ChartRepository,
) -> None:
    obj = _authenticated_repository(cluster, namespace, repo)
    artifact = obj["status"]["artifact"]
    assert artifact["revision"].startswith("sha256:")
    assert artifact["path"].endswith(f"index-{artifact['revision'][7:]}.yaml")
    stored = _download(obj["status"]["url"])
    assert stored == (repo.root / "index.yaml").read_bytes()
    assert artifact["digest"] == artifact["revision"]
    assert objects.condition(obj, "Ready")["message"] == (  # type: ignore[index]
        f"stored artifact: revision '{artifact['revision']}'"
    )

    objects.apply(
        cluster,
        _helmchart(namespace, "podinfo", "podinfo", "HelmRepository", "charts", version="6.x"),
    )
    chart = eventually_sync(
        _ready(cluster, namespace, "helmchart", "podinfo", "6.0.3"),
        within=60,
        message=controller.output(),
    )
    assert chart["status"]["observedChartName"] == "podinfo"
    assert chart["status"]["observedSourceArtifactRevision"] == artifact["revision"]
    assert objects.condition(chart, "ArtifactInStorage")["reason"] == "ChartPullSucceeded"  # type: ignore[index]
    assert (
        _download(chart["status"]["artifact"]["url"])
        == (repo.root / "podinfo-6.0.3.tgz").read_bytes()
    )

    # A new version in range: the index changes, the chart follows.
    repo.add_chart("podinfo", "6.1.0")
    repo.write_index()
    objects.request_reconcile(cluster, namespace, "helmrepository", "charts", "new-version")
    eventually_sync(_ready(cluster, namespace, "helmchart", "podinfo", "6.1.0"), within=60)
    events = objects.events(cluster, namespace)
    assert "pulled 'podinfo' chart with version '6.1.0'" in {e["message"] for e in events}

    # The chart's version is stored already: a reconcile downloads nothing.
    charts_before = sum(1 for _, path, _ in repo.requests if path.endswith(".tgz"))
    objects.request_reconcile(cluster, namespace, "helmchart", "podinfo", "same-chart")
    _handled(cluster, namespace, "helmchart", "podinfo", "same-chart")
    assert sum(1 for _, path, _ in repo.requests if path.endswith(".tgz")) == charts_before

    # Unchanged: one conditional request, answered 304, no new revision.
    before = repo.index_requests()
    current = objects.get(cluster, namespace, "helmrepository", "charts")
    assert current is not None
    revision = current["status"]["artifact"]["revision"]
    objects.request_reconcile(cluster, namespace, "helmrepository", "charts", "unchanged")
    _handled(cluster, namespace, "helmrepository", "charts", "unchanged")
    assert repo.index_requests() == before + 1
    assert repo.requests[-1][2] == 304
    after = objects.get(cluster, namespace, "helmrepository", "charts")
    assert after["status"]["artifact"]["revision"] == revision  # type: ignore[index]


def test_values_files_are_merged_into_the_packaged_chart(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controller: processes.Controller,
    repo: chartrepos.ChartRepository,
) -> None:
    _authenticated_repository(cluster, namespace, repo)
    objects.apply(
        cluster,
        _helmchart(
            namespace, "podinfo", "podinfo", "HelmRepository", "charts",
            valuesFiles=["values.yaml", "values-prod.yaml"],
        ),
    )  # fmt: skip
    chart = eventually_sync(_ready(cluster, namespace, "helmchart", "podinfo"), within=60)
    generation = chart["metadata"]["generation"]
    assert chart["status"]["artifact"]["revision"] == f"6.0.3+{generation}"
    files = _chart_files(_download(chart["status"]["artifact"]["url"]))
    assert yaml.safe_load(files["podinfo/values.yaml"]) == {"replicas": 3}
    assert yaml.safe_load(files["podinfo/Chart.yaml"])["version"] == f"6.0.3+{generation}"
    assert objects.condition(chart, "Ready")["message"] == (  # type: ignore[index]
        f"packaged 'podinfo' chart with version '6.0.3+{generation}' and merged values files"
        " [values.yaml values-prod.yaml]"
    )


def test_a_missing_chart_or_version_and_a_wrong_password_say_so(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controller: processes.Controller,
    repo: chartrepos.ChartRepository,
) -> None:
    served = _authenticated_repository(cluster, namespace, repo)
    objects.apply(cluster, _helmchart(namespace, "nochart", "nginx", "HelmRepository", "charts"))
    objects.apply(
        cluster,
        _helmchart(namespace, "noversion", "podinfo", "HelmRepository", "charts", version=">=7"),
    )
    missing = eventually_sync(
        _condition(cluster, namespace, "helmchart", "nochart", "Stalled", "InvalidChartReference"),
        within=60,
    )
    assert missing["message"] == (
        "invalid chart reference: failed to get chart version for remote reference:"
        " no chart name found"
    )
    version = eventually_sync(
        _condition(
            cluster, namespace, "helmchart", "noversion", "FetchFailed", "InvalidChartReference"
        ),
        within=60,
    )
    assert version["message"].endswith("no 'podinfo' chart with version matching '>=7' found")

    cluster.kubectl(
        "patch", "secret", "creds", "-n", namespace, "--type=merge",
        "-p", json.dumps({"stringData": {"password": "wrong"}}),
    )  # fmt: skip
    objects.request_reconcile(cluster, namespace, "helmrepository", "charts", "wrong-password")
    failed = eventually_sync(
        _condition(cluster, namespace, "helmrepository", "charts", "FetchFailed", "Failed"),
        within=60,
    )
    assert failed["message"] == (
        f"failed to fetch Helm repository index: failed to fetch {repo.url}/index.yaml"
        " : 401 Unauthorized"
    )
    obj = objects.get(cluster, namespace, "helmrepository", "charts")
    assert objects.condition(obj, "Ready")["status"] == "False"  # type: ignore[index]
    assert obj["status"]["artifact"] == served["status"]["artifact"]  # type: ignore[index]
    assert yaml.safe_load(_download(served["status"]["url"]))["entries"]["podinfo"]
    warnings = [e for e in objects.events(cluster, namespace) if e["type"] == "Warning"]
    assert any("401 Unauthorized" in e["message"] for e in warnings)


def test_a_repository_over_tls_with_a_private_ca(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controller: processes.Controller,
    tmp_path: pathlib.Path,
) -> None:
    tls = credentials.make_tls_material(tmp_path / "tls")
    with chartrepos.serving(tmp_path / "tls-charts", tls=(tls.server_cert, tls.server_key)) as repo:
        repo.add_chart("podinfo", "6.0.3")
        repo.write_index()
        objects.apply(cluster, _helmrepository(namespace, "untrusted", repo.url))
        untrusted = eventually_sync(
            _condition(cluster, namespace, "helmrepository", "untrusted", "FetchFailed", "Failed"),
            within=60,
        )
        assert "certificate verify failed" in untrusted["message"]

        _secret(cluster, namespace, "ca", **{"ca.crt": f"@{tls.ca_cert}"})
        objects.apply(
            cluster, _helmrepository(namespace, "trusted", repo.url, certSecretRef={"name": "ca"})
        )
        eventually_sync(_ready(cluster, namespace, "helmrepository", "trusted"), within=60)
        objects.apply(
            cluster, _helmchart(namespace, "podinfo", "podinfo", "HelmRepository", "trusted")
        )
        eventually_sync(_ready(cluster, namespace, "helmchart", "podinfo", "6.0.3"), within=60)


def test_an_index_over_the_limit_is_refused(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    tmp_path: pathlib.Path,
    repo: chartrepos.ChartRepository,
) -> None:
    repo.write_index(extra={"padding": "x" * 4096})
    _secret(cluster, namespace, "creds", username=USER[0], password=USER[1])
    with _controller(cluster, namespace, tmp_path, "--helm-index-max-size", "2048"):
        objects.apply(
            cluster, _helmrepository(namespace, "big", repo.url, secretRef={"name": "creds"})
        )
        failed = eventually_sync(
            _condition(cluster, namespace, "helmrepository", "big", "FetchFailed", "Failed"),
            within=60,
        )
    assert failed["message"] == (
        "failed to fetch Helm repository index: index exceeds the maximum index size of 2048 bytes"
    )


def test_a_chart_from_a_git_repository(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controller: processes.Controller,
    make_repo: Callable[..., RepoBuilder],
    http_server: GitServer,
) -> None:
    git = make_repo("charts.git")
    head = git.commit(
        "Add a chart",
        {
            "charts/app/Chart.yaml": "apiVersion: v2\nname: app\nversion: 1.2.3\n"
            "dependencies:\n- name: lib\n  version: 0.1.0\n  repository: file://../lib\n",
            "charts/app/values.yaml": "replicas: 1\n",
            "charts/app/templates/cm.yaml": "kind: ConfigMap\n",
            "charts/lib/Chart.yaml": "apiVersion: v2\nname: lib\nversion: 0.1.0\ntype: library\n",
            "env/prod.yaml": "replicas: 5\n",
        },
    )
    objects.apply(
        cluster,
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "charts", "namespace": namespace},
            "spec": {"interval": "1h", "url": http_server.url("charts.git")},
        },
    )
    objects.apply(cluster, _helmchart(namespace, "app", "charts/app", "GitRepository", "charts"))
    chart = eventually_sync(
        _ready(cluster, namespace, "helmchart", "app", "1.2.3"),
        within=60,
        message=controller.output(),
    )
    files = _chart_files(_download(chart["status"]["artifact"]["url"]))
    assert "app/charts/lib-0.1.0.tgz" in files
    assert chart["status"]["observedSourceArtifactRevision"] == f"master@sha1:{head}"

    objects.apply(
        cluster,
        _helmchart(
            namespace, "app-rev", "charts/app", "GitRepository", "charts",
            reconcileStrategy="Revision", valuesFiles=["env/prod.yaml"],
        ),
    )  # fmt: skip
    revised = eventually_sync(_ready(cluster, namespace, "helmchart", "app-rev"), within=60)
    generation = revised["metadata"]["generation"]
    assert revised["status"]["artifact"]["revision"] == f"1.2.3+{head[:12]}.{generation}"
    files = _chart_files(_download(revised["status"]["artifact"]["url"]))
    assert yaml.safe_load(files["app/values.yaml"]) == {"replicas": 5}


def test_an_oci_repository_is_ready_without_registry_calls_and_cloud_providers_stall(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controller: processes.Controller,
) -> None:
    # NB: nothing listens on this port: an OCI HelmRepository makes no request.
    url = f"oci://127.0.0.1:{devcluster_fixtures.free_port()}/charts"
    objects.apply(cluster, _helmrepository(namespace, "registry", url, type="oci"))
    ready = eventually_sync(_ready(cluster, namespace, "helmrepository", "registry"), within=60)
    assert objects.condition(ready, "Ready")["message"] == "Helm repository is ready"  # type: ignore[index]
    assert "artifact" not in ready["status"]

    objects.apply(cluster, _helmrepository(namespace, "ecr", url, type="oci", provider="aws"))
    stalled = eventually_sync(
        _condition(
            cluster, namespace, "helmrepository", "ecr", "Stalled", "InvalidProviderConfiguration"
        ),
        within=60,
    )
    assert stalled["message"] == "provider 'aws' is not supported; use 'generic'"

    objects.apply(
        cluster, _helmchart(namespace, "podinfo", "podinfo", "HelmRepository", "registry")
    )
    unsupported = eventually_sync(
        _condition(cluster, namespace, "helmchart", "podinfo", "Stalled", "UnsupportedSourceKind"),
        within=60,
    )
    assert unsupported["message"] == "charts from OCI HelmRepositories are not supported yet"


def test_repository_dependencies_of_a_git_chart_come_through_a_helm_repository(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controller: processes.Controller,
    repo: chartrepos.ChartRepository,
    make_repo: Callable[..., RepoBuilder],
    http_server: GitServer,
) -> None:
    git = make_repo("umbrella.git")
    git.commit(
        "Add an umbrella chart",
        {
            "umbrella/Chart.yaml": "apiVersion: v2\nname: umbrella\nversion: 0.1.0\n"
            f"dependencies:\n- name: podinfo\n  version: 6.x\n  repository: {repo.url}/\n",
        },
    )
    objects.apply(
        cluster,
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "umbrella", "namespace": namespace},
            "spec": {"interval": "1h", "url": http_server.url("umbrella.git")},
        },
    )
    objects.apply(
        cluster, _helmchart(namespace, "umbrella", "umbrella", "GitRepository", "umbrella")
    )
    failed = eventually_sync(
        _condition(
            cluster, namespace, "helmchart", "umbrella", "BuildFailed", "DependencyBuildError"
        ),
        within=60,
    )
    assert failed["message"] == (
        f"dependency build error: no HelmRepository found for '{repo.url}'"
        f" in '{namespace}' namespace"
    )

    _authenticated_repository(cluster, namespace, repo)
    objects.request_reconcile(cluster, namespace, "helmchart", "umbrella", "with-repository")
    chart = eventually_sync(_ready(cluster, namespace, "helmchart", "umbrella", "0.1.0"), within=60)
    files = _chart_files(_download(chart["status"]["artifact"]["url"]))
    assert (
        files["umbrella/charts/podinfo-6.0.3.tgz"] == (repo.root / "podinfo-6.0.3.tgz").read_bytes()
    )


def test_after_a_restart_an_unchanged_index_is_compared_by_digest_and_not_stored_again(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    tmp_path: pathlib.Path,
    repo: chartrepos.ChartRepository,
) -> None:
    with _controller(cluster, namespace, tmp_path):
        first = _authenticated_repository(cluster, namespace, repo)
    before = len(repo.requests)
    with _controller(cluster, namespace, tmp_path):
        objects.request_reconcile(cluster, namespace, "helmrepository", "charts", "restarted")
        _handled(cluster, namespace, "helmrepository", "charts", "restarted")
    # No ETag is known after a restart: the first reconcile sends a plain GET
    # whose digest matches (nothing parsed or stored); a later one (when the
    # request did not coincide with the start-up reconcile) uses its ETag.
    statuses = [status for _, _, status in repo.requests[before:]]
    assert statuses[0] == 200
    assert set(statuses[1:]) <= {304}
    after = objects.get(cluster, namespace, "helmrepository", "charts")
    assert after is not None
    assert after["status"]["artifact"] == first["status"]["artifact"]
