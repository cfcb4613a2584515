"""source-controller as a process: HelmRepository indexes and HelmChart packages.

Against the devcluster and real servers on 127.0.0.1: a chart repository
(``tests.fixtures.chartrepos``, charts packaged by the Helm SDK) with basic
auth or TLS, and a Git server for charts kept in Git.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from tests.e2e import helmsources, objects
from tests.fixtures import chartrepos, credentials, processes
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures.gitservers import GitServer, RepoBuilder
from tests.fixtures.polling import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
controller = helmsources.controller
USER = ("helm", "s3cret")


@pytest.fixture
def repo(tmp_path: pathlib.Path) -> Iterator[chartrepos.ChartRepository]:
    """A chart repository with basic auth holding ``podinfo`` 6.0.3."""
    with chartrepos.serving(tmp_path / "charts", basic=USER) as serving:
        serving.add_chart("podinfo", "6.0.3", files={"values-prod.yaml": "replicas: 3\n"})
        serving.write_index()
        yield serving


def _authenticated_repository(
    cluster: devcluster_fixtures.Devcluster, namespace: str, repo: chartrepos.ChartRepository
) -> dict[str, Any]:
    helmsources.secret(cluster, namespace, "creds", username=USER[0], password=USER[1])
    objects.apply(
        cluster,
        helmsources.helmrepository(namespace, "charts", repo.url, secretRef={"name": "creds"}),
    )
    return eventually_sync(
        helmsources.ready(cluster, namespace, "helmrepository", "charts"), within=60
    )


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
    stored = helmsources.download(obj["status"]["url"])
    assert stored == (repo.root / "index.yaml").read_bytes()
    assert artifact["digest"] == artifact["revision"]
    assert objects.condition(obj, "Ready")["message"] == (  # type: ignore[index]
        f"stored artifact: revision '{artifact['revision']}'"
    )

    objects.apply(
        cluster,
        helmsources.helmchart(
            namespace, "podinfo", "podinfo", "HelmRepository", "charts", version="6.x"
        ),
    )
    chart = eventually_sync(
        helmsources.ready(cluster, namespace, "helmchart", "podinfo", "6.0.3"),
        within=60,
        message=controller.output(),
    )
    assert chart["status"]["observedChartName"] == "podinfo"
    assert chart["status"]["observedSourceArtifactRevision"] == artifact["revision"]
    assert objects.condition(chart, "ArtifactInStorage")["reason"] == "ChartPullSucceeded"  # type: ignore[index]
    assert (
        helmsources.download(chart["status"]["artifact"]["url"])
        == (repo.root / "podinfo-6.0.3.tgz").read_bytes()
    )

    # A new version in range: the index changes, the chart follows.
    repo.add_chart("podinfo", "6.1.0")
    repo.write_index()
    objects.request_reconcile(cluster, namespace, "helmrepository", "charts", "new-version")
    eventually_sync(
        helmsources.ready(cluster, namespace, "helmchart", "podinfo", "6.1.0"), within=60
    )
    events = objects.events(cluster, namespace)
    assert "pulled 'podinfo' chart with version '6.1.0'" in {e["message"] for e in events}

    # The chart's version is stored already: a reconcile downloads nothing.
    charts_before = sum(1 for _, path, _ in repo.requests if path.endswith(".tgz"))
    objects.request_reconcile(cluster, namespace, "helmchart", "podinfo", "same-chart")
    helmsources.handled(cluster, namespace, "helmchart", "podinfo", "same-chart")
    assert sum(1 for _, path, _ in repo.requests if path.endswith(".tgz")) == charts_before

    # Unchanged: one conditional request, answered 304, no new revision.
    before = repo.index_requests()
    current = objects.get(cluster, namespace, "helmrepository", "charts")
    assert current is not None
    revision = current["status"]["artifact"]["revision"]
    objects.request_reconcile(cluster, namespace, "helmrepository", "charts", "unchanged")
    helmsources.handled(cluster, namespace, "helmrepository", "charts", "unchanged")
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
        helmsources.helmchart(
            namespace, "podinfo", "podinfo", "HelmRepository", "charts",
            valuesFiles=["values.yaml", "values-prod.yaml"],
        ),
    )  # fmt: skip
    chart = eventually_sync(
        helmsources.ready(cluster, namespace, "helmchart", "podinfo"), within=60
    )
    generation = chart["metadata"]["generation"]
    assert chart["status"]["artifact"]["revision"] == f"6.0.3+{generation}"
    files = helmsources.chart_files(helmsources.download(chart["status"]["artifact"]["url"]))
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
    objects.apply(
        cluster, helmsources.helmchart(namespace, "nochart", "nginx", "HelmRepository", "charts")
    )
    objects.apply(
        cluster,
        helmsources.helmchart(
            namespace, "noversion", "podinfo", "HelmRepository", "charts", version=">=7"
        ),
    )
    missing = eventually_sync(
        helmsources.condition(
            cluster, namespace, "helmchart", "nochart", "Stalled", "InvalidChartReference"
        ),
        within=60,
    )
    assert missing["message"] == (
        "invalid chart reference: failed to get chart version for remote reference:"
        " no chart name found"
    )
    version = eventually_sync(
        helmsources.condition(
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
        helmsources.condition(
            cluster, namespace, "helmrepository", "charts", "FetchFailed", "Failed"
        ),
        within=60,
    )
    assert failed["message"] == (
        f"failed to fetch Helm repository index: failed to fetch {repo.url}/index.yaml"
        " : 401 Unauthorized"
    )
    obj = objects.get(cluster, namespace, "helmrepository", "charts")
    assert objects.condition(obj, "Ready")["status"] == "False"  # type: ignore[index]
    assert obj["status"]["artifact"] == served["status"]["artifact"]  # type: ignore[index]
    assert yaml.safe_load(helmsources.download(served["status"]["url"]))["entries"]["podinfo"]
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
        objects.apply(cluster, helmsources.helmrepository(namespace, "untrusted", repo.url))
        untrusted = eventually_sync(
            helmsources.condition(
                cluster, namespace, "helmrepository", "untrusted", "FetchFailed", "Failed"
            ),
            within=60,
        )
        assert "certificate verify failed" in untrusted["message"]

        helmsources.secret(cluster, namespace, "ca", **{"ca.crt": f"@{tls.ca_cert}"})
        objects.apply(
            cluster,
            helmsources.helmrepository(
                namespace, "trusted", repo.url, certSecretRef={"name": "ca"}
            ),
        )
        eventually_sync(
            helmsources.ready(cluster, namespace, "helmrepository", "trusted"), within=60
        )
        objects.apply(
            cluster,
            helmsources.helmchart(namespace, "podinfo", "podinfo", "HelmRepository", "trusted"),
        )
        eventually_sync(
            helmsources.ready(cluster, namespace, "helmchart", "podinfo", "6.0.3"), within=60
        )


def test_an_index_over_the_limit_is_refused(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    tmp_path: pathlib.Path,
    repo: chartrepos.ChartRepository,
) -> None:
    repo.write_index(extra={"padding": "x" * 4096})
    helmsources.secret(cluster, namespace, "creds", username=USER[0], password=USER[1])
    with helmsources.start(cluster, namespace, tmp_path, "--helm-index-max-size", "2048"):
        objects.apply(
            cluster,
            helmsources.helmrepository(namespace, "big", repo.url, secretRef={"name": "creds"}),
        )
        failed = eventually_sync(
            helmsources.condition(
                cluster, namespace, "helmrepository", "big", "FetchFailed", "Failed"
            ),
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
    objects.apply(
        cluster, helmsources.helmchart(namespace, "app", "charts/app", "GitRepository", "charts")
    )
    chart = eventually_sync(
        helmsources.ready(cluster, namespace, "helmchart", "app", "1.2.3"),
        within=60,
        message=controller.output(),
    )
    files = helmsources.chart_files(helmsources.download(chart["status"]["artifact"]["url"]))
    assert "app/charts/lib-0.1.0.tgz" in files
    assert chart["status"]["observedSourceArtifactRevision"] == f"master@sha1:{head}"

    objects.apply(
        cluster,
        helmsources.helmchart(
            namespace, "app-rev", "charts/app", "GitRepository", "charts",
            reconcileStrategy="Revision", valuesFiles=["env/prod.yaml"],
        ),
    )  # fmt: skip
    revised = eventually_sync(
        helmsources.ready(cluster, namespace, "helmchart", "app-rev"), within=60
    )
    generation = revised["metadata"]["generation"]
    assert revised["status"]["artifact"]["revision"] == f"1.2.3+{head[:12]}.{generation}"
    files = helmsources.chart_files(helmsources.download(revised["status"]["artifact"]["url"]))
    assert yaml.safe_load(files["app/values.yaml"]) == {"replicas": 5}


def test_an_oci_repository_is_ready_without_registry_calls_and_cloud_providers_stall(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controller: processes.Controller,
) -> None:
    # NB: nothing listens on this port: an OCI HelmRepository makes no request.
    url = f"oci://127.0.0.1:{devcluster_fixtures.free_port()}/charts"
    objects.apply(cluster, helmsources.helmrepository(namespace, "registry", url, type="oci"))
    ready = eventually_sync(
        helmsources.ready(cluster, namespace, "helmrepository", "registry"), within=60
    )
    assert objects.condition(ready, "Ready")["message"] == "Helm repository is ready"  # type: ignore[index]
    assert "artifact" not in ready["status"]

    objects.apply(
        cluster, helmsources.helmrepository(namespace, "ecr", url, type="oci", provider="aws")
    )
    stalled = eventually_sync(
        helmsources.condition(
            cluster, namespace, "helmrepository", "ecr", "Stalled", "InvalidProviderConfiguration"
        ),
        within=60,
    )
    assert stalled["message"] == "provider 'aws' is not supported; use 'generic'"


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
        cluster,
        helmsources.helmchart(namespace, "umbrella", "umbrella", "GitRepository", "umbrella"),
    )
    failed = eventually_sync(
        helmsources.condition(
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
    chart = eventually_sync(
        helmsources.ready(cluster, namespace, "helmchart", "umbrella", "0.1.0"), within=60
    )
    files = helmsources.chart_files(helmsources.download(chart["status"]["artifact"]["url"]))
    assert (
        files["umbrella/charts/podinfo-6.0.3.tgz"] == (repo.root / "podinfo-6.0.3.tgz").read_bytes()
    )


def test_after_a_restart_an_unchanged_index_is_compared_by_digest_and_not_stored_again(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    tmp_path: pathlib.Path,
    repo: chartrepos.ChartRepository,
) -> None:
    with helmsources.start(cluster, namespace, tmp_path):
        first = _authenticated_repository(cluster, namespace, repo)
    before = len(repo.requests)
    with helmsources.start(cluster, namespace, tmp_path):
        objects.request_reconcile(cluster, namespace, "helmrepository", "charts", "restarted")
        helmsources.handled(cluster, namespace, "helmrepository", "charts", "restarted")
    # No ETag is known after a restart: the first reconcile sends a plain GET
    # whose digest matches (nothing parsed or stored); a later one (when the
    # request did not coincide with the start-up reconcile) uses its ETag.
    statuses = [status for _, _, status in repo.requests[before:]]
    assert statuses[0] == 200
    assert set(statuses[1:]) <= {304}
    after = objects.get(cluster, namespace, "helmrepository", "charts")
    assert after is not None
    assert after["status"]["artifact"] == first["status"]["artifact"]
