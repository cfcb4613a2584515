"""kstatus rules and Flux's health checks, table-driven against ``health`` and ``healthexprs``."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from shared.kube import health, healthexprs

NOW = datetime.datetime(2025, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)
S = health.Status


def _cond(kind: str, status: str, reason: str = "", message: str = "") -> dict[str, str]:
    return {"type": kind, "status": status, "reason": reason, "message": message}


def _obj(
    api_version: str, kind: str, *, spec: Any = None, status: Any = None, **meta: Any
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": "x", **meta},
    }
    if spec is not None:
        obj["spec"] = spec
    if status is not None:
        obj["status"] = status
    return obj


def _ago(seconds: int) -> str:
    return (NOW - datetime.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


_DEPLOY_OK_STATUS = {
    "replicas": 3,
    "updatedReplicas": 3,
    "readyReplicas": 3,
    "availableReplicas": 3,
    "conditions": [
        _cond("Progressing", "True", "NewReplicaSetAvailable"),
        _cond("Available", "True"),
    ],
}
_DEPLOY_SPEC = {"replicas": 3, "progressDeadlineSeconds": 600}

CASES: list[tuple[str, dict[str, Any], S, str | None]] = [
    ("1 configmap", _obj("v1", "ConfigMap"), S.CURRENT, "Resource is always ready"),
    (
        "2 terminating",
        _obj("apps/v1", "Deployment", deletionTimestamp=_ago(1)),
        S.TERMINATING,
        "Resource scheduled for deletion",
    ),
    (
        "3 generation",
        _obj("apps/v1", "Deployment", generation=2, status={"observedGeneration": 1}),
        S.IN_PROGRESS,
        "Deployment generation is 2, but latest observed generation is 1",
    ),
    (
        "4 reconciling first",
        _obj(
            "example.com/v1",
            "Thing",
            status={
                "conditions": [
                    _cond("Reconciling", "True", message="working"),
                    _cond("Stalled", "True", message="x"),
                ]
            },
        ),
        S.IN_PROGRESS,
        "working",
    ),
    (
        "5 stalled",
        _obj(
            "example.com/v1",
            "Thing",
            status={"conditions": [_cond("Stalled", "True", message="bad config")]},
        ),
        S.FAILED,
        "bad config",
    ),
    (
        "6 ready true",
        _obj("example.com/v1", "Thing", status={"conditions": [_cond("Ready", "True")]}),
        S.CURRENT,
        "Resource is Ready",
    ),
    (
        "6 ready false",
        _obj(
            "example.com/v1",
            "Thing",
            status={"conditions": [_cond("Ready", "False", message="waiting")]},
        ),
        S.IN_PROGRESS,
        "waiting",
    ),
    ("7 no status", _obj("example.com/v1", "Thing"), S.CURRENT, "Resource is current"),
    (
        "7 namespace",
        _obj("v1", "Namespace", status={"phase": "Active"}),
        S.CURRENT,
        "Resource is current",
    ),
    (
        "8 deployment available",
        _obj("apps/v1", "Deployment", spec=_DEPLOY_SPEC, status=_DEPLOY_OK_STATUS),
        S.CURRENT,
        "Deployment is available. Replicas: 3",
    ),
    (
        "9 deadline",
        _obj(
            "apps/v1",
            "Deployment",
            spec=_DEPLOY_SPEC,
            status={
                **_DEPLOY_OK_STATUS,
                "conditions": [_cond("Progressing", "False", "ProgressDeadlineExceeded")],
            },
        ),
        S.FAILED,
        "Progress deadline exceeded",
    ),
    (
        "10 updated",
        _obj(
            "apps/v1",
            "Deployment",
            spec={"replicas": 3},
            status={"replicas": 3, "updatedReplicas": 1},
        ),
        S.IN_PROGRESS,
        "Updated: 1/3",
    ),
    (
        "11 pending termination",
        _obj(
            "apps/v1",
            "Deployment",
            spec={"replicas": 1},
            status={
                "replicas": 2,
                "updatedReplicas": 1,
                "readyReplicas": 1,
                "availableReplicas": 1,
            },
        ),
        S.IN_PROGRESS,
        "Pending termination: 1",
    ),
    (
        "12 no progressing",
        _obj(
            "apps/v1",
            "Deployment",
            spec=_DEPLOY_SPEC,
            status={**_DEPLOY_OK_STATUS, "conditions": [_cond("Available", "True")]},
        ),
        S.IN_PROGRESS,
        "ReplicaSet not Available",
    ),
    (
        "13 statefulset ondelete",
        _obj("apps/v1", "StatefulSet", spec={"updateStrategy": {"type": "OnDelete"}}),
        S.CURRENT,
        "StatefulSet is using the ondelete update strategy",
    ),
    (
        "14 partition",
        _obj(
            "apps/v1",
            "StatefulSet",
            spec={
                "replicas": 3,
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}},
            },
            status={"replicas": 3, "readyReplicas": 3, "updatedReplicas": 1},
        ),
        S.CURRENT,
        "Partition rollout complete. updated: 1",
    ),
    (
        "15 revisions",
        _obj(
            "apps/v1",
            "StatefulSet",
            spec={"replicas": 3},
            status={
                "replicas": 3,
                "readyReplicas": 3,
                "currentReplicas": 3,
                "currentRevision": "a",
                "updateRevision": "b",
            },
        ),
        S.IN_PROGRESS,
        "Waiting for updated revision to match current",
    ),
    (
        "16 daemonset",
        _obj("apps/v1", "DaemonSet", generation=1),
        S.IN_PROGRESS,
        "DaemonSet status.observedGeneration not found",
    ),
    (
        "17 daemonset available",
        _obj(
            "apps/v1",
            "DaemonSet",
            generation=1,
            status={
                "observedGeneration": 1,
                "desiredNumberScheduled": 3,
                "currentNumberScheduled": 3,
                "updatedNumberScheduled": 3,
                "numberAvailable": 2,
                "numberReady": 3,
            },
        ),
        S.IN_PROGRESS,
        "Available: 2/3",
    ),
    (
        "18 replicafailure",
        _obj("apps/v1", "ReplicaSet", status={"conditions": [_cond("ReplicaFailure", "True")]}),
        S.IN_PROGRESS,
        "Replica Failure condition. Check Pods",
    ),
    (
        "19 crashloop",
        _obj(
            "v1",
            "Pod",
            status={
                "phase": "Running",
                "containerStatuses": [
                    {"name": "app", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
                ],
            },
        ),
        S.FAILED,
        "Containers in CrashLoop state: app",
    ),
    (
        "20 unschedulable old",
        _obj(
            "v1",
            "Pod",
            creationTimestamp=_ago(60),
            status={
                "phase": "Pending",
                "conditions": [_cond("PodScheduled", "False", "Unschedulable")],
            },
        ),
        S.FAILED,
        "Pod could not be scheduled",
    ),
    (
        "20 unschedulable new",
        _obj(
            "v1",
            "Pod",
            creationTimestamp=_ago(5),
            status={
                "phase": "Pending",
                "conditions": [_cond("PodScheduled", "False", "Unschedulable")],
            },
        ),
        S.IN_PROGRESS,
        "Pod has not been scheduled",
    ),
    (
        "21 pod failed",
        _obj("v1", "Pod", status={"phase": "Failed"}),
        S.CURRENT,
        "Pod has completed, but not successfully",
    ),
    ("21 pod phase unknown", _obj("v1", "Pod", status={"phase": "Unknown"}), S.UNKNOWN, None),
    (
        "22 job started",
        _obj("batch/v1", "Job", status={"startTime": _ago(3), "active": 1}),
        S.CURRENT,
        "Job in progress. success:0, active: 1, failed: 0",
    ),
    (
        "23 job failed",
        _obj(
            "batch/v1",
            "Job",
            spec={"completions": 1},
            status={"failed": 6, "conditions": [_cond("Failed", "True")]},
        ),
        S.FAILED,
        "Job Failed. failed: 6/1",
    ),
    (
        "24 pvc",
        _obj("v1", "PersistentVolumeClaim", status={"phase": "Pending"}),
        S.IN_PROGRESS,
        "PVC is not Bound. phase: Pending",
    ),
    (
        "25 lb with ip",
        _obj("v1", "Service", spec={"type": "LoadBalancer", "clusterIP": "10.0.0.1"}),
        S.CURRENT,
        "Service is ready",
    ),
    (
        "25 lb without ip",
        _obj("v1", "Service", spec={"type": "LoadBalancer"}),
        S.IN_PROGRESS,
        "ClusterIP not set. Service type: LoadBalancer",
    ),
    (
        "26 crd installing",
        _obj(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            status={"conditions": [_cond("Established", "False", "Installing")]},
        ),
        S.IN_PROGRESS,
        "Install in progress",
    ),
    (
        "26 crd names",
        _obj(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            status={"conditions": [_cond("NamesAccepted", "False", "X", "names clash")]},
        ),
        S.FAILED,
        "names clash",
    ),
    (
        "26 crd established",
        _obj(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            status={"conditions": [_cond("Established", "True")]},
        ),
        S.CURRENT,
        "CRD is established",
    ),
    (
        "27 pdb",
        _obj("policy/v1", "PodDisruptionBudget", generation=2, status={"observedGeneration": 2}),
        S.CURRENT,
        "AllowedDisruptions has been computed.",
    ),
    ("27 cronjob", _obj("batch/v1", "CronJob"), S.CURRENT, "Resource is always ready"),
    (
        "generation not an int",
        _obj("example.com/v1", "Thing", generation="2", status={"observedGeneration": 1}),
        S.UNKNOWN,
        None,
    ),
    (
        "bool replicas read as default",
        _obj(
            "apps/v1",
            "Deployment",
            spec={"replicas": True},
            status={
                "replicas": 1,
                "updatedReplicas": 1,
                "readyReplicas": 1,
                "availableReplicas": 1,
                "conditions": [_cond("Available", "True")],
            },
        ),
        S.CURRENT,
        "Deployment is available. Replicas: 1",
    ),
    (
        "secret ignores ready",
        _obj("v1", "Secret", status={"conditions": [_cond("Ready", "False")]}),
        S.CURRENT,
        "Resource is always ready",
    ),
]


@pytest.mark.parametrize(
    ("obj", "status", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_kstatus(obj: dict[str, Any], status: S, message: str | None) -> None:
    result = health.compute(obj, now=NOW)

    assert result.status == status
    if message is not None:
        assert result.message == message


FLUX_JOB_CASES: list[tuple[str, dict[str, Any], S, str]] = [
    (
        "22 started is in progress",
        _obj("batch/v1", "Job", status={"startTime": _ago(3), "active": 1}),
        S.IN_PROGRESS,
        "Job in progress. success:0, active: 1, failed: 0",
    ),
    (
        "23 suspended",
        _obj("batch/v1", "Job", spec={"suspend": True}),
        S.CURRENT,
        "Job is suspended",
    ),
    (
        "not started",
        _obj("batch/v1", "Job", spec={"parallelism": 2}),
        S.IN_PROGRESS,
        "Job not started. active: 0/2",
    ),
    (
        "complete",
        _obj(
            "batch/v1",
            "Job",
            spec={"completions": 2},
            status={"succeeded": 2, "conditions": [_cond("Complete", "True")]},
        ),
        S.CURRENT,
        "Job Completed. succeeded: 2/2",
    ),
]


@pytest.mark.parametrize(
    ("obj", "status", "message"),
    [c[1:] for c in FLUX_JOB_CASES],
    ids=[c[0] for c in FLUX_JOB_CASES],
)
def test_flux_job_reader(obj: dict[str, Any], status: S, message: str) -> None:
    assert health.compute_flux(obj, now=NOW) == health.Result(status, message)


_SEALED = {
    "apiVersion": "bitnami.com/v1alpha1",
    "kind": "SealedSecret",
    "current": "status.conditions.filter(e, e.type == 'Synced').all(e, e.status == 'True')",
    "failed": "status.conditions.filter(e, e.type == 'Synced').all(e, e.status == 'False')",
}


def _sealed(**kwargs: Any) -> dict[str, Any]:
    return _obj("bitnami.com/v1alpha1", "SealedSecret", **kwargs)


CEL_CASES: list[tuple[str, dict[str, Any], S]] = [
    ("synced false", _sealed(status={"conditions": [_cond("Synced", "False")]}), S.FAILED),
    ("synced true", _sealed(status={"conditions": [_cond("Synced", "True")]}), S.CURRENT),
    (
        "no conditions: all() of empty is true, failed first",
        _sealed(status={"conditions": []}),
        S.FAILED,
    ),
    ("no status", _sealed(), S.UNKNOWN),
    (
        "generation ahead",
        _sealed(
            generation=2, status={"observedGeneration": 1, "conditions": [_cond("Synced", "True")]}
        ),
        S.IN_PROGRESS,
    ),
    (
        "ready ignored",
        _sealed(status={"conditions": [_cond("Ready", "True"), _cond("Synced", "False")]}),
        S.FAILED,
    ),
]


@pytest.mark.parametrize(
    ("obj", "status"), [c[1:] for c in CEL_CASES], ids=[c[0] for c in CEL_CASES]
)
def test_cel_health_checks(obj: dict[str, Any], status: S) -> None:
    checks = healthexprs.compile_checks([_SEALED])

    assert health.compute_flux(obj, readers=(checks.read,), now=NOW).status == status


def test_cel_missing_key_names_the_expression() -> None:
    checks = healthexprs.compile_checks([_SEALED])

    result = health.compute_flux(_sealed(), readers=(checks.read,), now=NOW)

    assert result.message.startswith(f"failed to evaluate the CEL expression '{_SEALED['failed']}'")
    assert "status" in result.message


def test_cel_exact_kind_beats_group() -> None:
    checks = healthexprs.compile_checks(
        [
            {"apiVersion": "example.com/v1", "current": "false", "inProgress": "true"},
            {"apiVersion": "example.com/v1", "kind": "Thing", "current": "true"},
        ]
    )

    assert checks.read(_obj("example.com/v1", "Thing")) == health.Result(
        S.CURRENT, "Current because 'true' is true"
    )
    assert checks.read(_obj("example.com/v1", "Other")) is not None
    assert checks.read(_obj("other.com/v1", "Thing")) is None


def test_cel_non_bool_result_is_unknown() -> None:
    checks = healthexprs.compile_checks([{"apiVersion": "example.com/v1", "current": "'yes'"}])

    result = checks.read(_obj("example.com/v1", "Thing"))

    assert result is not None
    assert result.status == S.UNKNOWN


@pytest.mark.parametrize(
    "checks",
    [
        [
            {"apiVersion": "a.io/v1", "kind": "K", "current": "true"},
            {"apiVersion": "a.io/v2", "kind": "K", "current": "true"},
        ],
        [{"apiVersion": "a.io/v1", "kind": "K", "current": ""}],
        [{"apiVersion": "a.io/v1", "kind": "K", "current": "status.("}],
    ],
    ids=["duplicate", "empty current", "unparsable"],
)
def test_invalid_checks_are_rejected(checks: list[dict[str, str]]) -> None:
    with pytest.raises(healthexprs.InvalidExpressionError):
        healthexprs.compile_checks(checks)
