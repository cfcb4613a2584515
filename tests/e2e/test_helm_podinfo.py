"""The podinfo-shaped chart from a podinfo-style Helm repository installs, tests and is Ready.

source-controller and helm-controller run as processes against the
devcluster (the fixtures of ``test_helm_controller``); the repository
(``tests.fixtures.podinfochart.publish``) holds podinfo 5.2.1, 6.0.0, 6.5.4
and 7.0.0 behind an index with absolute URLs, so the template's ``6.x``
range must pick 6.5.4. The devcluster's simulated kubelet makes the
Deployment's pods ready and runs the ``helm.sh/hook: test`` Pods to
completion. The Helm SDK's lint renders the parts the release leaves
disabled and checks values against the chart's schema.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e import objects
from tests.e2e.test_helm_controller import (
    _chart,
    _condition,
    _helm,
    _helmrelease,
    _helmrepository,
    _ready,
    controllers,
)
from tests.fixtures import chartrepos, podinfochart, processes
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures.polling import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
__all__ = ["controllers"]  # NB: fixture shared with test_helm_controller

VERSIONS = ("5.2.1", "6.0.0", "6.5.4", "7.0.0")


@pytest.fixture
def podinfo_repo(tmp_path: pathlib.Path) -> Iterator[chartrepos.ChartRepository]:
    """A chart repository publishing podinfo ``VERSIONS`` as podinfo's GitHub Pages does."""
    with chartrepos.serving(tmp_path / "podinfo") as serving:
        podinfochart.publish(serving, VERSIONS)
        yield serving


def test_the_podinfo_chart_installs_passes_its_tests_and_is_ready(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    controllers: tuple[processes.Controller, processes.Controller],
    podinfo_repo: chartrepos.ChartRepository,
) -> None:
    values = {
        "replicaCount": 2,
        "serviceAccount": {"enabled": True},
        "podAnnotations": {"example.org/scrape": "true"},
    }
    objects.apply(cluster, _helmrepository(namespace, podinfo_repo.url))
    objects.apply(
        cluster,
        _helmrelease(
            namespace,
            "podinfo",
            chart=_chart("6.x", "podinfo"),
            values=values,
            test={"enable": True},
        ),
    )

    obj = eventually_sync(_ready(cluster, namespace, "podinfo", reason="TestSucceeded"), within=120)

    assert _condition(obj, "Released")[:2] == ("True", "InstallSucceeded")
    assert _condition(obj, "TestSuccess")[:2] == ("True", "TestSucceeded")
    status = obj["status"]
    assert status["lastAttemptedRevision"] == "6.5.4"
    [snapshot] = status["history"]
    assert (snapshot["chartName"], snapshot["chartVersion"]) == ("podinfo", "6.5.4")
    assert snapshot["appVersion"] == podinfochart.APP_VERSION
    assert sorted(hook["phase"] for hook in snapshot["testHooks"].values()) == [
        "Succeeded",
        "Succeeded",
    ]
    deployment = objects.get(cluster, namespace, "deployment", "podinfo")
    assert deployment is not None
    assert deployment["spec"]["replicas"] == 2
    assert deployment["status"].get("availableReplicas") == 2
    template = deployment["spec"]["template"]
    assert template["metadata"]["annotations"] == {"example.org/scrape": "true"}
    assert template["spec"]["serviceAccountName"] == "podinfo"
    assert objects.get(cluster, namespace, "serviceaccount", "podinfo") is not None
    assert objects.get(cluster, namespace, "service", "podinfo") is not None
    assert objects.get(cluster, namespace, "horizontalpodautoscaler", "podinfo") is None
    assert objects.get(cluster, namespace, "ingress", "podinfo") is None
    with _helm(cluster, namespace) as sdk:
        listed = sdk.list()
        supplied = sdk.get_values("podinfo")
    assert [(r["name"], r["revision"], r["status"]) for r in listed] == [("podinfo", 1, "deployed")]
    [release] = listed
    assert (release["chart_name"], release["chart_version"]) == ("podinfo", "6.5.4")
    assert release["app_version"] == podinfochart.APP_VERSION
    assert "deploy/podinfo 8080:9898" in release["notes"]
    packaged = podinfochart.archive_members(podinfo_repo.root / "podinfo-6.5.4.tgz")
    assert {"values.schema.json", "templates/tests/grpc.yaml", ".helmignore"} <= set(packaged)
    assert "scratch.bak" not in packaged  # NB: left out by .helmignore
    assert supplied == values


def test_every_optional_part_renders_and_the_schema_rejects_bad_values(
    podinfo_repo: chartrepos.ChartRepository,
) -> None:
    import helm_python  # NB: loads a Go runtime, so only when used

    archive = podinfo_repo.root / "podinfo-6.5.4.tgz"
    parts = ("ingress", "hpa", "redis", "serviceAccount", "serviceMonitor")
    every: dict[str, Any] = {part: {"enabled": True} for part in parts}
    every["ingress"]["className"] = "nginx"

    linted = helm_python.lint(archive, every, strict=True)
    rejected = helm_python.lint(archive, {"replicaCount": "two"})

    assert (linted["errors"], linted["messages"]) == ([], [])
    assert any("/replicaCount': got string, want integer" in e for e in rejected["errors"])
