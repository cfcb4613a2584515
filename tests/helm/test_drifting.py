"""Drift of a release manifest against live objects (pure, with a dict as the cache)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from controllers.helm import drifting
from shared.api import kustomize
from shared.kube import ignoring, inventory

OBJECTS: list[dict[str, Any]] = [
    {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "web", "namespace": "apps"},
        "data": {"color": "blue"},
    },
    {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "other"},
        "spec": {"replicas": 2},
    },
    {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "web-reader"},
        "rules": [],
    },
]


async def _objects() -> list[dict[str, Any]]:
    return copy.deepcopy(OBJECTS)


def _live_of(objs: list[dict[str, Any]]) -> dict[inventory.Ref, dict[str, Any]]:
    live = {}
    for obj in objs:
        served = copy.deepcopy(obj)
        served["metadata"].update(resourceVersion="7", labels={"added": "by-someone"})
        served["status"] = {"observedGeneration": 1}
        live[inventory.Ref.of(obj)] = served
    return live


async def test_no_drift_when_the_cluster_holds_the_manifest() -> None:
    desired = await _objects()
    live = _live_of(desired)

    async def lookup(ref: inventory.Ref) -> dict[str, Any] | None:
        return live.get(ref)

    assert await drifting.detect(desired, live=lookup, rules=ignoring.Rules()) == []


@pytest.mark.parametrize(
    ("ignore", "want"),
    [
        (
            [],
            [
                "ConfigMap/apps/web changed (data.color)",
                "Deployment/other/web changed (spec.replicas)",
                "ClusterRole/web-reader removed",
            ],
        ),
        (
            [{"paths": ["/spec/replicas"], "target": {"kind": "Deployment"}}],
            ["ConfigMap/apps/web changed (data.color)", "ClusterRole/web-reader removed"],
        ),
    ],
)
async def test_drift_lines(ignore: list[dict[str, Any]], want: list[str]) -> None:
    desired = await _objects()
    live = _live_of(desired)
    config = live[inventory.Ref.of(desired[0])]
    config["data"]["color"] = "red"
    live[inventory.Ref.of(desired[1])]["spec"]["replicas"] = 5
    del live[inventory.Ref.of(desired[2])]

    async def lookup(ref: inventory.Ref) -> dict[str, Any] | None:
        return live.get(ref)

    rules = ignoring.Rules([kustomize.IgnoreRule.model_validate(r) for r in ignore])
    assert await drifting.detect(desired, live=lookup, rules=rules) == want
