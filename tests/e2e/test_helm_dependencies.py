"""helm-controller's ``dependsOn``: a HelmRelease releases once its dependencies are ready.

Against the devcluster with source-controller and a chart repository on
127.0.0.1 (the fixtures of ``test_helm_controller``): a HelmRelease waits,
DependencyNotReady and with nothing stored, until the one it depends on is
Ready for its generation, or until a ``readyExpr`` over ``dep`` and ``self``
holds (which then decides alone).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e import objects
from tests.e2e.test_helm_controller import (
    _condition,
    _helm,
    _helmrelease,
    _helmrepository,
    _installed,
    _ready,
    controllers,
    repo,
)
from tests.fixtures import chartrepos, processes
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures.polling import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
__all__ = ["controllers", "repo"]  # NB: fixtures shared with test_helm_controller


def _labelled(manifest: dict[str, Any], **labels: str) -> dict[str, Any]:
    manifest["metadata"]["labels"] = labels
    return manifest


def _waiting(cluster: devcluster_fixtures.Devcluster, namespace: str) -> Any:
    """``app`` not Ready because of its dependency (no generation observed: it never ran)."""
    return _ready(
        cluster, namespace, "app", status="False", reason="DependencyNotReady",
        generation_current=False,
    )  # fmt: skip


def _history(cluster: devcluster_fixtures.Devcluster, namespace: str, name: str) -> list[Any]:
    with _helm(cluster, namespace) as sdk:
        return list(sdk.history(name)) if name in [r["name"] for r in sdk.list()] else []


def test_a_release_waits_for_its_dependency_to_be_ready(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controllers: tuple[processes.Controller, processes.Controller],
    repo: chartrepos.ChartRepository,
) -> None:
    objects.apply(cluster, _helmrepository(namespace, repo.url))
    objects.apply(cluster, _helmrelease(namespace, "app", dependsOn=[{"name": "db"}]))

    waiting = eventually_sync(_waiting(cluster, namespace), within=60)
    assert f"dependency '{namespace}/db' not found" in _condition(waiting, "Ready")[2]
    assert _history(cluster, namespace, "app") == []

    objects.apply(cluster, _helmrelease(namespace, "db"))
    db = eventually_sync(_ready(cluster, namespace, "db"), within=90)
    app = eventually_sync(_ready(cluster, namespace, "app"), within=90)

    assert _condition(app, "Released")[:2] == ("True", "InstallSucceeded")
    first = db["status"]["history"][0]["firstDeployed"]
    assert app["status"]["history"][0]["firstDeployed"] >= first


def test_a_ready_expr_decides_instead_of_ready(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controllers: tuple[processes.Controller, processes.Controller],
    repo: chartrepos.ChartRepository,
) -> None:
    _installed(cluster, namespace, repo.url, "db")
    expr = "has(dep.metadata.labels) && dep.metadata.labels.tier == self.metadata.labels.tier"
    app = _helmrelease(namespace, "app", dependsOn=[{"name": "db", "readyExpr": expr}])
    objects.apply(cluster, _labelled(app, tier="data"))

    waiting = eventually_sync(_waiting(cluster, namespace), within=60)
    assert "not ready according to readyExpr" in _condition(waiting, "Ready")[2]
    assert _history(cluster, namespace, "app") == []

    cluster.kubectl("label", "-n", namespace, "helmrelease", "db", "tier=data")
    eventually_sync(_ready(cluster, namespace, "app"), within=90)
