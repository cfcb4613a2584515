"""helm-controller as a process, with source-controller: HelmReleases become Helm releases.

Against the devcluster and real servers on 127.0.0.1: a chart repository
(``tests.fixtures.chartrepos``) for HelmRepository charts, the registry
(``tests.fixtures.registry``) for OCI charts. The Helm SDK (``helm_python``)
reads what the controller stored, as ``helm list``/``history``/``get values``
would. The chart's Deployment is kept unready or failing through the
devcluster's simulate annotation, from the values.
"""

from __future__ import annotations

import contextlib
import json
import pathlib
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.e2e import objects
from tests.fixtures import chartrepos, processes
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures import registry as registry_fixtures
from tests.fixtures.polling import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
registry = registry_fixtures.registry

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  annotations:
    devcluster.headwater.dev/simulate: {{ .Values.mode | default "ready" | quote }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app: {{ .Release.Name | quote }}}
  template:
    metadata:
      labels: {app: {{ .Release.Name | quote }}}
      annotations:
        devcluster.headwater.dev/simulate: {{ .Values.mode | default "ready" | quote }}
    spec:
      containers:
        - name: app
          image: "podinfo:{{ .Values.tag }}"
"""
CONFIGMAP_DATA = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
data:
  color: {{ .Values.color | default "blue" | quote }}
  port: {{ .Values.service.port | default 80 | quote }}
"""
TEST_HOOK = """\
{{- if .Values.tests }}
apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-smoke
  annotations:
    helm.sh/hook: test
    devcluster.headwater.dev/simulate: {{ .Values.tests | quote }}
spec:
  restartPolicy: Never
  containers:
    - name: smoke
      image: busybox
{{- end }}
"""
EXTRA = """\
{{- if .Values.extra }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-extra
data:
  extra: "yes"
{{- end }}
"""
CHART_FILES = {
    "templates/deploy.yaml": DEPLOYMENT,
    "templates/extra.yaml": EXTRA,
    "templates/settings.yaml": CONFIGMAP_DATA,
    "templates/tests/smoke.yaml": TEST_HOOK,
}
CHART_VALUES = {"replicas": 1, "tag": "6.0.0", "service": {"port": 80}}


def _helm_controller(
    cluster: devcluster_fixtures.Devcluster, namespace: str, tmp_path: pathlib.Path
) -> contextlib.AbstractContextManager[processes.Controller]:
    return processes.start_controller(
        "controllers.helm",
        ["--kubeconfig", str(cluster.kubeconfig), "--watch-all-namespaces=false",
         "--requeue-dependency", "2s"],
        log=tmp_path / "helm-controller.log",
        env={"RUNTIME_NAMESPACE": namespace},
    )  # fmt: skip


@contextlib.contextmanager
def _controllers(
    cluster: devcluster_fixtures.Devcluster, namespace: str, tmp_path: pathlib.Path
) -> Iterator[tuple[processes.Controller, processes.Controller]]:
    with (
        processes.start_source_controller(
            cluster.kubeconfig, namespace, tmp_path, devcluster_fixtures.free_port()
        ) as source,
        _helm_controller(cluster, namespace, tmp_path) as helm,
    ):
        yield source, helm


@pytest.fixture
def controllers(
    cluster: devcluster_fixtures.Devcluster, namespace: str, tmp_path: pathlib.Path
) -> Iterator[tuple[processes.Controller, processes.Controller]]:
    with _controllers(cluster, namespace, tmp_path) as running:
        yield running


@pytest.fixture
def repo(tmp_path: pathlib.Path) -> Iterator[chartrepos.ChartRepository]:
    """A chart repository holding ``demo`` 1.0.0."""
    with chartrepos.serving(tmp_path / "charts") as serving:
        serving.add_chart("demo", "1.0.0", values=CHART_VALUES, files=CHART_FILES)
        serving.write_index()
        yield serving


def _helmrepository(namespace: str, url: str) -> dict[str, Any]:
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmRepository",
        "metadata": {"name": "charts", "namespace": namespace},
        "spec": {"interval": "1h", "url": url},
    }


def _helmrelease(namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    chart = {
        "spec": {
            "chart": "demo",
            "version": "*",
            "sourceRef": {"kind": "HelmRepository", "name": "charts"},
            "interval": "1h",
        }
    }
    return {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"interval": "1h", "timeout": "20s", "chart": chart, **spec},
    }


def _ready(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    name: str,
    *,
    status: str = "True",
    reason: str | None = None,
    generation_current: bool = True,
) -> Callable[[], dict[str, Any] | None]:
    def probe() -> dict[str, Any] | None:
        obj = objects.get(cluster, namespace, "helmrelease", name)
        ready = objects.condition(obj, "Ready")
        if obj is None or ready is None or ready["status"] != status:
            return None
        if reason is not None and ready["reason"] != reason:
            return None
        observed = obj.get("status", {}).get("observedGeneration")
        if generation_current and observed != obj["metadata"]["generation"]:
            return None
        return obj

    return probe


def _condition(obj: dict[str, Any], type_: str) -> tuple[str, str, str]:
    """``(status, reason, message)`` of a condition that must be there."""
    found = objects.condition(obj, type_)
    assert found is not None, f"no {type_} condition in {obj.get('status')}"
    return found["status"], found["reason"], found["message"]


@contextlib.contextmanager
def _helm(cluster: devcluster_fixtures.Devcluster, namespace: str) -> Iterator[Any]:
    """The Helm SDK on ``namespace``'s release storage (what ``helm -n namespace`` sees)."""
    import helm_python  # NB: loads a Go runtime, so only when used

    config = helm_python.Config(namespace=namespace, kubeconfig_path=str(cluster.kubeconfig))
    try:
        yield config
    finally:
        config.close()


def test_install_from_a_helm_repository(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controllers: tuple[processes.Controller, processes.Controller],
    repo: chartrepos.ChartRepository,
) -> None:
    objects.apply(cluster, _helmrepository(namespace, repo.url))
    objects.apply(cluster, _helmrelease(namespace, "web", values={"color": "green"}))

    obj = eventually_sync(_ready(cluster, namespace, "web"), within=90)

    status = obj["status"]
    assert _condition(obj, "Ready") == (
        "True",
        "InstallSucceeded",
        f"Helm install succeeded for release {namespace}/web.v1 with chart demo@1.0.0",
    )
    assert _condition(obj, "Released")[0] == "True"
    assert status["helmChart"] == f"{namespace}/{namespace}-web"
    assert status["lastAttemptedRevision"] == "1.0.0"
    assert status["lastAttemptedReleaseAction"] == "install"
    assert status["storageNamespace"] == namespace
    [snapshot] = status["history"]
    assert (snapshot["name"], snapshot["version"], snapshot["status"]) == ("web", 1, "deployed")
    assert snapshot["chartName"] == "demo"
    assert snapshot["configDigest"].startswith("sha256:")
    chart = objects.get(cluster, namespace, "helmchart", f"{namespace}-web")
    assert chart is not None
    assert chart["metadata"]["labels"]["helm.toolkit.fluxcd.io/name"] == "web"
    settings = objects.get(cluster, namespace, "configmap", "web-settings")
    assert settings is not None
    assert settings["data"]["color"] == "green"
    with _helm(cluster, namespace) as sdk:
        listed = sdk.list()
        values = sdk.get_values("web")
    assert [(r["name"], r["revision"], r["status"]) for r in listed] == [("web", 1, "deployed")]
    assert values == {"color": "green"}


def _events(cluster: devcluster_fixtures.Devcluster, namespace: str, name: str) -> list[str]:
    return [
        e["reason"]
        for e in objects.events(cluster, namespace)
        if e["involvedObject"].get("kind") == "HelmRelease" and e["involvedObject"]["name"] == name
    ]


def _installed(
    cluster: devcluster_fixtures.Devcluster, namespace: str, url: str, name: str, **spec: Any
) -> dict[str, Any]:
    """HelmRepository ``charts`` at ``url`` and HelmRelease ``name``, once it is Ready."""
    objects.apply(cluster, _helmrepository(namespace, url))
    objects.apply(cluster, _helmrelease(namespace, name, **spec))
    return eventually_sync(_ready(cluster, namespace, name), within=90)


def _sdk_rollback(
    cluster: devcluster_fixtures.Devcluster, namespace: str, name: str, version: int
) -> list[tuple[int, str]]:
    """``helm rollback name version`` by the Helm SDK; the history after it."""
    with _helm(cluster, namespace) as sdk:
        sdk.rollback(name, version=version)
        return [(r["revision"], r["status"]) for r in sdk.history(name)]


def _revisions(cluster: devcluster_fixtures.Devcluster, namespace: str, name: str) -> list[Any]:
    with _helm(cluster, namespace) as sdk:
        return [(r["revision"], r["status"]) for r in sdk.history(name)]


def _chart(version: str, name: str = "demo") -> dict[str, Any]:
    """A HelmRelease chart template: chart ``name`` at ``version`` from HelmRepository charts."""
    return {
        "spec": {
            "chart": name,
            "version": version,
            "sourceRef": {"kind": "HelmRepository", "name": "charts"},
            "interval": "1h",
        }
    }


def test_upgrade_on_values_and_chart_version(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controllers: tuple[processes.Controller, processes.Controller],
    repo: chartrepos.ChartRepository,
) -> None:
    repo.add_chart("demo", "1.1.0", values=CHART_VALUES, files=CHART_FILES)
    repo.write_index()
    objects.apply(cluster, _helmrepository(namespace, repo.url))
    objects.apply(cluster, _helmrelease(namespace, "web", chart=_chart("1.0.0")))
    eventually_sync(_ready(cluster, namespace, "web"), within=90)

    objects.apply(
        cluster, _helmrelease(namespace, "web", chart=_chart("1.0.0"), values={"color": "red"})
    )
    upgraded = eventually_sync(_ready(cluster, namespace, "web", reason="UpgradeSucceeded"))
    settings = objects.get(cluster, namespace, "configmap", "web-settings")
    assert settings is not None
    assert settings["data"]["color"] == "red"
    assert [s["version"] for s in upgraded["status"]["history"]] == [2, 1]

    objects.apply(
        cluster, _helmrelease(namespace, "web", chart=_chart("1.1.0"), values={"color": "red"})
    )

    def on_new_chart() -> dict[str, Any] | None:
        obj = _ready(cluster, namespace, "web", reason="UpgradeSucceeded")()
        return obj if obj and obj["status"]["lastAttemptedRevision"] == "1.1.0" else None

    obj = eventually_sync(on_new_chart, within=60)
    assert _condition(obj, "Ready")[2] == (
        f"Helm upgrade succeeded for release {namespace}/web.v3 with chart demo@1.1.0"
    )
    assert _revisions(cluster, namespace, "web") == [
        (1, "superseded"),
        (2, "superseded"),
        (3, "deployed"),
    ]
    assert {"InstallSucceeded", "UpgradeSucceeded"} <= set(_events(cluster, namespace, "web"))


def test_values_from_with_target_path(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controllers: tuple[processes.Controller, processes.Controller],
    repo: chartrepos.ChartRepository,
) -> None:
    cluster.kubectl(
        "create", "configmap", "web-values", "-n", namespace,
        "--from-literal=values.yaml=color: yellow\n", "--from-literal=port=8080",
    )  # fmt: skip
    objects.apply(cluster, _helmrepository(namespace, repo.url))
    objects.apply(
        cluster,
        _helmrelease(
            namespace,
            "web",
            valuesFrom=[
                {"kind": "ConfigMap", "name": "web-values"},
                {
                    "kind": "ConfigMap",
                    "name": "web-values",
                    "valuesKey": "port",
                    "targetPath": "service.port",
                },
                {"kind": "Secret", "name": "absent", "optional": True},
            ],
        ),
    )

    eventually_sync(_ready(cluster, namespace, "web"), within=90)

    settings = objects.get(cluster, namespace, "configmap", "web-settings")
    assert settings is not None
    assert (settings["data"]["color"], settings["data"]["port"]) == ("yellow", "8080")
    with _helm(cluster, namespace) as sdk:
        assert sdk.get_values("web") == {"color": "yellow", "service": {"port": 8080}}


def test_failing_install_is_uninstalled_and_retried(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controllers: tuple[processes.Controller, processes.Controller],
    repo: chartrepos.ChartRepository,
) -> None:
    objects.apply(cluster, _helmrepository(namespace, repo.url))
    objects.apply(
        cluster,
        _helmrelease(
            namespace,
            "web",
            timeout="5s",
            values={"mode": "fail"},
            install={"remediation": {"retries": 1}},
        ),
    )

    def stalled() -> dict[str, Any] | None:
        obj = objects.get(cluster, namespace, "helmrelease", "web")
        found = objects.condition(obj, "Stalled")
        return obj if found is not None and found["status"] == "True" else None

    obj = eventually_sync(stalled, within=120)

    status = obj["status"]
    assert _condition(obj, "Stalled")[:2] == ("True", "RetriesExceeded")
    assert _condition(obj, "Stalled")[2] == "Failed to install after 2 attempt(s)"
    assert status["installFailures"] == 2
    assert _condition(obj, "Ready")[0] == "False"
    assert _condition(obj, "Released")[:2] == ("False", "InstallFailed")
    reasons = _events(cluster, namespace, "web")
    assert reasons.count("InstallFailed") >= 1
    assert "UninstallSucceeded" in reasons


def test_failing_upgrade_is_rolled_back(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controllers: tuple[processes.Controller, processes.Controller],
    repo: chartrepos.ChartRepository,
) -> None:
    objects.apply(cluster, _helmrepository(namespace, repo.url))
    spec = {"timeout": "5s", "upgrade": {"remediation": {"retries": 1}}}
    objects.apply(cluster, _helmrelease(namespace, "web", **spec))
    eventually_sync(_ready(cluster, namespace, "web"), within=90)

    objects.apply(cluster, _helmrelease(namespace, "web", values={"mode": "fail"}, **spec))

    def rolled_back() -> list[Any] | None:
        revisions = _revisions(cluster, namespace, "web")
        return revisions if len(revisions) >= 3 and revisions[2][1] == "deployed" else None

    revisions = eventually_sync(rolled_back, within=120)
    assert revisions[:3] == [(1, "superseded"), (2, "failed"), (3, "deployed")]
    reasons = _events(cluster, namespace, "web")
    assert "UpgradeFailed" in reasons
    assert "RollbackSucceeded" in reasons


def test_deleting_the_helmrelease_uninstalls(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controllers: tuple[processes.Controller, processes.Controller],
    repo: chartrepos.ChartRepository,
) -> None:
    _installed(cluster, namespace, repo.url, "web")

    cluster.kubectl("delete", "-n", namespace, "helmrelease", "web", "--wait=false")

    def gone() -> bool | None:
        released = objects.get(cluster, namespace, "configmap", "web-settings")
        chart = objects.get(cluster, namespace, "helmchart", f"{namespace}-web")
        hr = objects.get(cluster, namespace, "helmrelease", "web")
        return True if released is None and chart is None and hr is None else None

    eventually_sync(gone, within=60)
    with _helm(cluster, namespace) as sdk:
        assert sdk.list(all_states=True) == []


HELM_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"


def test_install_from_an_oci_registry(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controllers: tuple[processes.Controller, processes.Controller],
    repo: chartrepos.ChartRepository,
    registry: registry_fixtures.Registry,
) -> None:
    import helm_python  # NB: loads a Go runtime, so only when used

    [archive] = repo.root.glob("demo-1.0.0.tgz")
    pushed = helm_python.push(archive, f"oci://{registry.host}/{namespace}", plain_http=True)
    objects.apply(
        cluster,
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "OCIRepository",
            "metadata": {"name": "demo", "namespace": namespace},
            "spec": {
                "interval": "1h",
                "url": f"oci://{registry.host}/{namespace}/demo",
                "ref": {"tag": "1.0.0"},
                "insecure": True,
                "layerSelector": {"mediaType": HELM_LAYER, "operation": "copy"},
            },
        },
    )
    manifest = _helmrelease(namespace, "web", chartRef={"kind": "OCIRepository", "name": "demo"})
    del manifest["spec"]["chart"]
    objects.apply(cluster, manifest)

    obj = eventually_sync(_ready(cluster, namespace, "web"), within=90)

    status = obj["status"]
    digest = status["lastAttemptedRevisionDigest"]
    assert digest.startswith("sha256:")
    assert pushed.get("digest") in (None, digest)
    assert status["lastAttemptedRevision"] == f"1.0.0+{digest.removeprefix('sha256:')[:12]}"
    assert status["history"][0]["ociDigest"] == digest
    assert "helmChart" not in status
    with _helm(cluster, namespace) as sdk:
        [listed] = sdk.list()
    assert (listed["name"], listed["revision"]) == ("web", 1)
    assert status["lastAttemptedRevision"] in json.dumps(listed)


def test_a_failing_test_fails_the_release(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controllers: tuple[processes.Controller, processes.Controller],
    repo: chartrepos.ChartRepository,
) -> None:
    objects.apply(cluster, _helmrepository(namespace, repo.url))
    objects.apply(
        cluster,
        _helmrelease(namespace, "web", test={"enable": True}, values={"tests": "fail"}),
    )

    def tested() -> dict[str, Any] | None:
        # NB: the release loop writes its status after each action, so TestSuccess=False
        # can be seen while Ready is still Unknown; the outcome is Ready=False.
        obj = objects.get(cluster, namespace, "helmrelease", "web")
        found = objects.condition(obj, "TestSuccess")
        ready = objects.condition(obj, "Ready")
        failed = found is not None and found["status"] == "False"
        return obj if failed and ready is not None and ready["status"] == "False" else None

    obj = eventually_sync(tested, within=120)

    assert _condition(obj, "TestSuccess")[1] == "TestFailed"
    assert _condition(obj, "Ready")[0] == "False"
    hooks = obj["status"]["history"][0]["testHooks"]
    assert [hook["phase"] for hook in hooks.values()] == ["Failed"]
    assert "TestFailed" in _events(cluster, namespace, "web")


def test_passing_tests_are_recorded(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controllers: tuple[processes.Controller, processes.Controller],
    repo: chartrepos.ChartRepository,
) -> None:
    objects.apply(cluster, _helmrepository(namespace, repo.url))
    objects.apply(
        cluster,
        _helmrelease(namespace, "web", test={"enable": True}, values={"tests": "ready"}),
    )

    obj = eventually_sync(_ready(cluster, namespace, "web", reason="TestSucceeded"), within=120)

    assert _condition(obj, "Ready")[2] == (
        f"Helm test succeeded for release {namespace}/web.v1 with chart demo@1.0.0: "
        "1 test hook completed successfully"
    )
    assert _condition(obj, "Released")[:2] == ("True", "InstallSucceeded")


@pytest.mark.parametrize("mode", ["enabled", "warn"])
def test_drift_is_corrected_or_warned(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controllers: tuple[processes.Controller, processes.Controller],
    repo: chartrepos.ChartRepository,
    mode: str,
) -> None:
    objects.apply(cluster, _helmrepository(namespace, repo.url))
    objects.apply(cluster, _helmrelease(namespace, "web", driftDetection={"mode": mode}))
    eventually_sync(_ready(cluster, namespace, "web"), within=90)

    cluster.kubectl(
        "patch", "-n", namespace, "configmap", "web-settings", "--type=merge",
        "-p", '{"data": {"color": "purple"}}',
    )  # fmt: skip
    objects.request_reconcile(cluster, namespace, "helmrelease", "web", "drift")

    want = "False" if mode == "enabled" else "True"

    def handled() -> dict[str, Any] | None:
        obj = objects.get(cluster, namespace, "helmrelease", "web")
        found = objects.condition(obj, "Drifted")
        done = (obj or {}).get("status", {}).get("lastHandledReconcileAt") == "drift"
        return obj if done and found is not None and found["status"] == want else None

    obj = eventually_sync(handled, within=60)

    reasons = _events(cluster, namespace, "web")
    assert "DriftDetected" in reasons
    settings = objects.get(cluster, namespace, "configmap", "web-settings")
    assert settings is not None
    if mode == "enabled":
        # NB: as in Flux, the loop goes on after the correction and finds the
        # release in sync again: Drifted is False once the reconcile ends.
        assert _condition(obj, "Drifted")[:2] == ("False", "NoDriftDetected")
        assert settings["data"]["color"] == "blue"
        assert "DriftCorrected" in reasons
    else:
        assert _condition(obj, "Drifted")[2].endswith(
            f"ConfigMap/{namespace}/web-settings changed (data.color)"
        )
        assert settings["data"]["color"] == "purple"
        assert _condition(obj, "Ready")[0] == "True"


def test_post_renderers_apply_and_the_sdk_rolls_back(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controllers: tuple[processes.Controller, processes.Controller],
    repo: chartrepos.ChartRepository,
) -> None:
    post_renderers = [
        {
            "kustomize": {
                "patches": [
                    {
                        "target": {"kind": "ConfigMap", "name": "web-settings"},
                        "patch": '[{"op": "add", "path": "/data/rendered", "value": "yes"}]',
                    }
                ],
                "images": [{"name": "podinfo", "newName": "ghcr.io/stefanprodan/podinfo"}],
            }
        }
    ]
    objects.apply(cluster, _helmrepository(namespace, repo.url))
    objects.apply(cluster, _helmrelease(namespace, "web", postRenderers=post_renderers))
    eventually_sync(_ready(cluster, namespace, "web"), within=90)
    objects.apply(
        cluster,
        _helmrelease(namespace, "web", postRenderers=post_renderers, values={"extra": True}),
    )
    eventually_sync(_ready(cluster, namespace, "web", reason="UpgradeSucceeded"), within=60)

    settings = objects.get(cluster, namespace, "configmap", "web-settings")
    deployment = objects.get(cluster, namespace, "deployment", "web")
    assert settings is not None
    assert deployment is not None
    assert objects.get(cluster, namespace, "configmap", "web-extra") is not None
    assert settings["data"]["rendered"] == "yes"
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "ghcr.io/stefanprodan/podinfo:6.0.0"
    with _helm(cluster, namespace) as sdk:
        assert [r["name"] for r in sdk.list()] == ["web"]
    # NB: a rollback that changes a field helm-controller owns conflicts under
    # Helm 4's server-side apply; this one only removes an object.
    history = _sdk_rollback(cluster, namespace, "web", 1)
    assert history == [(1, "superseded"), (2, "superseded"), (3, "deployed")]
    assert objects.get(cluster, namespace, "configmap", "web-extra") is None
    rolled_back = objects.get(cluster, namespace, "configmap", "web-settings")
    assert rolled_back is not None
    assert rolled_back["data"]["rendered"] == "yes"


def test_a_controller_killed_mid_upgrade_converges_after_restart(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    repo: chartrepos.ChartRepository,
    tmp_path: pathlib.Path,
) -> None:
    objects.apply(cluster, _helmrepository(namespace, repo.url))
    with processes.start_source_controller(
        cluster.kubeconfig, namespace, tmp_path, devcluster_fixtures.free_port()
    ):
        with _helm_controller(cluster, namespace, tmp_path) as helm:
            objects.apply(cluster, _helmrelease(namespace, "web"))
            eventually_sync(_ready(cluster, namespace, "web"), within=90)
            objects.apply(
                cluster, _helmrelease(namespace, "web", timeout="5m", values={"mode": "pending"})
            )

            def pending() -> list[Any] | None:
                revisions = _revisions(cluster, namespace, "web")
                return revisions if revisions[-1] == (2, "pending-upgrade") else None

            eventually_sync(pending, within=60)
            helm.process.kill()  # NB: SIGKILL by PID, mid-upgrade
            helm.process.wait(timeout=30)

        objects.apply(cluster, _helmrelease(namespace, "web", values={"color": "red"}))
        with _helm_controller(cluster, namespace, tmp_path):
            obj = eventually_sync(
                _ready(cluster, namespace, "web", reason="UpgradeSucceeded"), within=90
            )

    assert _revisions(cluster, namespace, "web") == [
        (1, "superseded"),
        (2, "failed"),
        (3, "deployed"),
    ]
    assert obj["status"]["history"][0]["version"] == 3
    assert "PendingRelease" in _events(cluster, namespace, "web")


def _samples(controller: processes.Controller) -> dict[str, float]:
    """The controller's metrics, ``name{labels}`` → value."""
    with urllib.request.urlopen(f"http://{controller.metrics_addr}/metrics", timeout=10) as page:
        lines = page.read().decode().splitlines()
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in lines
        if line and not line.startswith("#")
    }


def _reconciles(samples: dict[str, float]) -> float:
    return sum(
        value
        for key, value in samples.items()
        if key.startswith("controller_runtime_reconcile_total{")
        and 'controller="helmrelease"' in key
    )


def _after_reconciles(
    controller: processes.Controller, count: float
) -> Callable[[], dict[str, float] | None]:
    def probe() -> dict[str, float] | None:
        found = _samples(controller)
        return found if _reconciles(found) >= count else None

    return probe


def _requests(samples: dict[str, float]) -> dict[str, float]:
    prefix = "headwater_rest_client_requests_total{"
    return {key: value for key, value in samples.items() if key.startswith(prefix)}


def test_a_reconcile_with_nothing_to_do_makes_no_request(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controllers: tuple[processes.Controller, processes.Controller],
    repo: chartrepos.ChartRepository,
) -> None:
    """The release's storage, its objects and the HelmChart are all read from watch caches."""
    _, helm = controllers
    objects.apply(cluster, _helmrepository(namespace, repo.url))
    objects.apply(
        cluster,
        _helmrelease(namespace, "web", interval="1s", driftDetection={"mode": "enabled"}),
    )
    eventually_sync(_ready(cluster, namespace, "web"), within=90)
    # NB: one more interval, so that what the first runs wrote has settled.
    before = eventually_sync(_after_reconciles(helm, _reconciles(_samples(helm)) + 2))

    after = eventually_sync(_after_reconciles(helm, _reconciles(before) + 3))

    assert _requests(after) == _requests(before)
