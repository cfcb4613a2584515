"""helm-controller options that reach the engine: the apply method and the wait.

Against the devcluster, with source-controller and a chart repository on
127.0.0.1, as in ``test_helm_controller``: ``serverSideApply: false`` stores a
client-side release the Helm SDK rolls back without conflicts, and
``healthCheckExprs`` decide when a custom kind (which kstatus alone would
call ready at once) lets the release through, and the chart's CRDs are in
the inventory.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from controllers.helm.engine import storage
from tests.e2e import objects
from tests.e2e.test_helm_controller import (
    CHART_FILES,
    CHART_VALUES,
    _condition,
    _helmrelease,
    _helmrepository,
    _installed,
    _ready,
    _sdk_rollback,
    controllers,
    repo,
)
from tests.fixtures import chartrepos, processes
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures.polling import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
__all__ = ["controllers", "repo"]  # NB: fixtures shared with test_helm_controller

WIDGET_CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.headwater.dev
spec:
  group: example.headwater.dev
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
"""
WIDGET = """\
apiVersion: example.headwater.dev/v1
kind: Widget
metadata:
  name: {{ .Release.Name }}
spec:
  size: 1
status:
  phase: {{ .Values.phase | quote }}
"""
WIDGET_HEALTH = [
    {
        "apiVersion": "example.headwater.dev/v1",
        "kind": "Widget",
        "current": "status.phase == 'Ready'",
        "failed": "status.phase == 'Broken'",
    }
]


@pytest.fixture
def widgets(tmp_path: pathlib.Path) -> Iterator[chartrepos.ChartRepository]:
    """A chart repository holding ``demo`` 1.0.0 with a Widget (a custom kind) and its CRD."""
    with chartrepos.serving(tmp_path / "widget-charts") as serving:
        serving.add_chart(
            "demo",
            "1.0.0",
            values={**CHART_VALUES, "phase": "Ready"},
            files={**CHART_FILES, "crds/widgets.yaml": WIDGET_CRD, "templates/widget.yaml": WIDGET},
        )
        serving.write_index()
        yield serving


def _stored(
    cluster: devcluster_fixtures.Devcluster, namespace: str, name: str, version: int
) -> Any:
    secret = objects.get(cluster, namespace, "secret", storage.secret_name(name, version))
    assert secret is not None, f"no revision {version} of {name} in storage"
    return storage.from_secret(secret)


def _managers(
    cluster: devcluster_fixtures.Devcluster, namespace: str, name: str
) -> set[tuple[str, str]]:
    """``(manager, operation)`` of the ConfigMap's managed fields."""
    result = cluster.kubectl(
        "get", "-n", namespace, "configmap", name, "-o", "json", "--show-managed-fields"
    )
    fields = json.loads(result.stdout)["metadata"].get("managedFields", [])
    return {(m["manager"], m["operation"]) for m in fields}


def test_a_client_side_release_is_rolled_back_by_the_sdk(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controllers: tuple[processes.Controller, processes.Controller],
    repo: chartrepos.ChartRepository,
) -> None:
    spec = {"install": {"serverSideApply": False}}
    _installed(cluster, namespace, repo.url, "web", **spec)
    objects.apply(cluster, _helmrelease(namespace, "web", values={"color": "red"}, **spec))
    eventually_sync(_ready(cluster, namespace, "web", reason="UpgradeSucceeded"), within=60)

    # ``auto`` (the upgrade's default) follows the client-side install.
    assert [_stored(cluster, namespace, "web", v).apply_method for v in (1, 2)] == ["csa", "csa"]
    settings = objects.get(cluster, namespace, "configmap", "web-settings")
    assert settings is not None
    assert settings["data"]["color"] == "red"
    managers = _managers(cluster, namespace, "web-settings")
    assert ("helm-controller", "Update") in managers
    assert ("helm-controller", "Apply") not in managers
    # NB: no conflict to force: the controller owns no field by server-side apply.
    history = _sdk_rollback(cluster, namespace, "web", 1)
    assert history == [(1, "superseded"), (2, "superseded"), (3, "deployed")]
    rolled_back = objects.get(cluster, namespace, "configmap", "web-settings")
    assert rolled_back is not None
    assert rolled_back["data"]["color"] == "blue"


def test_a_server_side_upgrade_of_a_client_side_release_when_asked(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controllers: tuple[processes.Controller, processes.Controller],
    repo: chartrepos.ChartRepository,
) -> None:
    spec: dict[str, Any] = {"install": {"serverSideApply": False}}
    _installed(cluster, namespace, repo.url, "web", **spec)
    spec["upgrade"] = {"serverSideApply": "enabled"}
    objects.apply(cluster, _helmrelease(namespace, "web", values={"color": "red"}, **spec))
    eventually_sync(_ready(cluster, namespace, "web", reason="UpgradeSucceeded"), within=60)

    assert [_stored(cluster, namespace, "web", v).apply_method for v in (1, 2)] == ["csa", "ssa"]
    assert ("helm-controller", "Apply") in _managers(cluster, namespace, "web-settings")


def test_health_check_exprs_decide_a_custom_kind_s_readiness(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controllers: tuple[processes.Controller, processes.Controller],
    widgets: chartrepos.ChartRepository,
) -> None:
    objects.apply(cluster, _helmrepository(namespace, widgets.url))
    spec = {"timeout": "5s", "healthCheckExprs": WIDGET_HEALTH}
    objects.apply(cluster, _helmrelease(namespace, "web", values={"phase": "Pending"}, **spec))

    failed = eventually_sync(
        _ready(cluster, namespace, "web", status="False", reason="InstallFailed"), within=90
    )
    status, reason, message = _condition(failed, "Released")
    assert (status, reason) == ("False", "InstallFailed")
    assert "Widget" in message, message

    objects.apply(cluster, _helmrelease(namespace, "web", values={"phase": "Ready"}, **spec))
    ready = eventually_sync(_ready(cluster, namespace, "web"), within=90)

    # The inventory lists the chart's CRDs after the release's objects, as Flux's does.
    entries = [(e["id"], e["v"]) for e in ready["status"]["inventory"]["entries"]]
    assert (f"{namespace}_web_example.headwater.dev_Widget", "v1") in entries
    assert entries[-1] == (
        "_widgets.example.headwater.dev_apiextensions.k8s.io_CustomResourceDefinition",
        "v1",
    )


def test_the_legacy_wait_strategy_leaves_health_check_exprs_out(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controllers: tuple[processes.Controller, processes.Controller],
    widgets: chartrepos.ChartRepository,
) -> None:
    """As in Flux, the expressions belong to ``poller``: kstatus calls the Widget ready."""
    objects.apply(cluster, _helmrepository(namespace, widgets.url))
    spec = {
        "timeout": "5s",
        "healthCheckExprs": WIDGET_HEALTH,
        "waitStrategy": {"name": "legacy"},
    }
    objects.apply(cluster, _helmrelease(namespace, "web", values={"phase": "Pending"}, **spec))

    eventually_sync(_ready(cluster, namespace, "web", reason="InstallSucceeded"), within=90)


def test_invalid_health_check_exprs_stall(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controllers: tuple[processes.Controller, processes.Controller],
    widgets: chartrepos.ChartRepository,
) -> None:
    objects.apply(cluster, _helmrepository(namespace, widgets.url))
    broken = [{**WIDGET_HEALTH[0], "current": "status.phase =="}]
    objects.apply(cluster, _helmrelease(namespace, "web", healthCheckExprs=broken))

    stalled = eventually_sync(
        _ready(cluster, namespace, "web", status="False", reason="InvalidCELExpression"),
        within=90,
    )
    assert _condition(stalled, "Stalled")[:2] == ("True", "InvalidCELExpression")
