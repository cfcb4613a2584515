"""The simulated HPA's arithmetic and its TARGETS column (``hpa``, ``tables``)."""

from __future__ import annotations

from typing import Any

import pytest

from devcluster.controllers import hpa
from devcluster.endpoints import tables
from devcluster.schemas import resources


@pytest.mark.parametrize(
    ("spec", "current", "want"),
    [
        ({"minReplicas": 2, "maxReplicas": 4}, 1, (2, "TooFewReplicas")),
        ({"minReplicas": 2, "maxReplicas": 4}, 3, (3, "DesiredWithinRange")),
        ({"minReplicas": 2, "maxReplicas": 4}, 9, (4, "TooManyReplicas")),
        ({"maxReplicas": 3}, 0, (1, "TooFewReplicas")),
    ],
)
def test_desired_replicas(spec: dict[str, Any], current: int, want: tuple[int, str]) -> None:
    assert hpa.desired({"spec": spec}, current) == want


def _cpu() -> dict[str, Any]:
    target = {"type": "Utilization", "averageUtilization": 80}
    return {"type": "Resource", "resource": {"name": "cpu", "target": target}}


@pytest.mark.parametrize(
    ("metrics", "current", "shown"),
    [
        ([], [], "<none>"),
        ([_cpu()], [], "cpu: <unknown>/80%"),
        (
            [_cpu()],
            [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "current": {"averageUtilization": 12}},
                }
            ],
            "cpu: 12%/80%",
        ),
        ([_cpu(), _cpu(), _cpu()], [], "cpu: <unknown>/80%, cpu: <unknown>/80% + 1 more..."),
    ],
)
def test_targets_column(metrics: list[Any], current: list[Any], shown: str) -> None:
    res = resources.Registry().lookup("autoscaling", "v2", "horizontalpodautoscalers")
    assert res is not None
    obj = {
        "metadata": {"name": "web", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {
            "metrics": metrics,
            "maxReplicas": 3,
            "scaleTargetRef": {"kind": "Deployment", "name": "web"},
        },
        "status": {"currentMetrics": current},
    }
    row = tables.table(res, [obj], version="v1", include="None")["rows"][0]["cells"]
    assert row[1:6] == ["Deployment/web", shown, "1", 3, 0]
