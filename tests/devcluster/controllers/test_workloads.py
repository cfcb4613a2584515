"""Pure status rules of the simulated kubelet (no server)."""

from __future__ import annotations

from typing import Any

import pytest

from devcluster.controllers import workloads

NOW = "2030-01-01T00:00:00Z"
EARLIER = "2029-01-01T00:00:00Z"


def _deploy(replicas: int = 3, **strategy: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"replicas": replicas}
    if strategy:
        spec["strategy"] = strategy
    return {"metadata": {"name": "d", "generation": 4}, "spec": spec}


@pytest.mark.parametrize(
    ("deploy", "expected"),
    [
        (_deploy(4), 1),  # 25% of 4
        (_deploy(3), 0),  # floor(0.75)
        (_deploy(10, rollingUpdate={"maxUnavailable": "50%"}), 5),
        (_deploy(10, rollingUpdate={"maxUnavailable": 2}), 2),
        (_deploy(3, rollingUpdate={"maxUnavailable": 0, "maxSurge": 0}), 1),
        (_deploy(2, rollingUpdate={"maxUnavailable": 5}), 2),
        (_deploy(3, type="Recreate"), 0),
        (_deploy(0), 0),
    ],
)
def test_max_unavailable(deploy: dict[str, Any], expected: int) -> None:
    assert workloads.max_unavailable(deploy) == expected


def test_unchanged_condition_keeps_its_transition_time() -> None:
    existing = [{"type": "Ready", "status": "True", "lastTransitionTime": EARLIER}]

    kept = workloads.conditions(existing, [{"type": "Ready", "status": "True"}], now=NOW)
    flipped = workloads.conditions(existing, [{"type": "Ready", "status": "False"}], now=NOW)

    assert kept[0]["lastTransitionTime"] == EARLIER
    assert flipped[0]["lastTransitionTime"] == NOW


def test_same_status_ignores_times_and_treats_none_as_absent() -> None:
    current = {"replicas": 1, "conditions": [{"type": "A", "lastTransitionTime": EARLIER}]}

    assert workloads.same_status(
        current,
        {"replicas": 1, "gone": None, "conditions": [{"type": "A", "lastTransitionTime": NOW}]},
    )
    assert not workloads.same_status(current, {"replicas": 2})


@pytest.mark.parametrize(
    ("mode", "completes", "phase", "ready", "waiting"),
    [
        ("ready", False, "Running", "True", None),
        ("ready", True, "Succeeded", "False", None),
        ("fail", False, "Running", "False", "CrashLoopBackOff"),
        ("fail", True, "Failed", "False", None),
        ("pending", False, "Pending", "False", "ContainerCreating"),
    ],
)
def test_pod_status(
    mode: str, completes: bool, phase: str, ready: str, waiting: str | None
) -> None:
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "app", "image": "x"}]}}

    status = workloads.pod_status(pod, mode=mode, completes=completes, now=NOW)

    assert status["phase"] == phase
    by_type = {c["type"]: c for c in status["conditions"]}
    assert by_type["Ready"]["status"] == by_type["ContainersReady"]["status"] == ready
    assert by_type["PodScheduled"]["status"] == "True"
    (container,) = status["containerStatuses"]
    assert container["name"] == "app"
    assert container.get("state", {}).get("waiting", {}).get("reason") == waiting


def _rs(name: str, replicas: int, ready: int) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"replicas": replicas},
        "status": {"replicas": replicas, "readyReplicas": ready, "availableReplicas": ready},
    }


def _progressing(status: dict[str, Any]) -> tuple[str, str]:
    found = {c["type"]: c for c in status["conditions"]}["Progressing"]
    return found["status"], found["reason"]


def test_deployment_status_complete() -> None:
    status = workloads.deployment_status(
        _deploy(3), new=_rs("d-1", 3, 3), old=[], new_pods=[], created=False, mode="ready", now=NOW
    )

    assert status["observedGeneration"] == 4
    assert (status["replicas"], status["updatedReplicas"], status["availableReplicas"]) == (3, 3, 3)
    assert status["unavailableReplicas"] is None
    assert _progressing(status) == ("True", "NewReplicaSetAvailable")
    assert {c["type"]: c["reason"] for c in status["conditions"]}["Available"] == (
        "MinimumReplicasAvailable"
    )
    assert [c["type"] for c in status["conditions"]] == ["Available", "Progressing"]


def test_deployment_status_mid_rollout_counts_old_replicasets() -> None:
    status = workloads.deployment_status(
        _deploy(2),
        new=_rs("d-2", 2, 1),
        old=[_rs("d-1", 1, 1)],
        new_pods=[],
        created=False,
        mode="ready",
        now=NOW,
    )

    assert (status["replicas"], status["updatedReplicas"], status["availableReplicas"]) == (3, 2, 2)
    assert _progressing(status) == ("True", "ReplicaSetUpdated")


def test_deployment_status_fails_on_crash_looping_pods() -> None:
    crashing = {
        "status": {"containerStatuses": [{"state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}
    }

    status = workloads.deployment_status(
        _deploy(1),
        new=_rs("d-1", 1, 0),
        old=[],
        new_pods=[crashing],
        created=False,
        mode="fail",
        now=NOW,
    )

    assert _progressing(status) == ("False", "ProgressDeadlineExceeded")
    assert {c["type"]: c["status"] for c in status["conditions"]}["Available"] == "False"


@pytest.mark.parametrize(
    ("succeeded", "failing", "types"),
    [
        (0, False, []),
        (1, False, ["SuccessCriteriaMet", "Complete"]),
        (0, True, ["FailureTarget", "Failed"]),
    ],
)
def test_job_status(succeeded: int, failing: bool, types: list[str]) -> None:
    status = workloads.job_status(
        {},
        active=0 if succeeded or failing else 1,
        ready=0,
        succeeded=succeeded,
        failed=1 if failing else 0,
        completions=1,
        failing=failing,
        now=NOW,
    )

    assert status["startTime"] == NOW
    assert [c["type"] for c in status.get("conditions", [])] == types
    assert ("completionTime" in status) == (succeeded == 1)


@pytest.mark.parametrize(
    ("pod", "expected"),
    [
        ({"spec": {}}, False),
        ({"spec": {"restartPolicy": "Always"}}, False),
        ({"spec": {"restartPolicy": "Never"}}, True),
        ({"spec": {"restartPolicy": "OnFailure"}}, True),
        (
            {
                "metadata": {"ownerReferences": [{"kind": "Job", "controller": True}]},
                "spec": {"restartPolicy": "Always"},
            },
            True,
        ),
        (
            {
                "metadata": {"ownerReferences": [{"kind": "ReplicaSet", "controller": True}]},
                "spec": {},
            },
            False,
        ),
    ],
)
def test_runs_to_completion(pod: dict[str, Any], expected: bool) -> None:
    assert workloads.runs_to_completion(pod) is expected
