"""Pure workload-status rules for the simulated kubelet: objects in, objects out.

What the real controllers write, reduced to what clients read: Pod phase,
conditions and container states; ReplicaSet/Deployment/StatefulSet/DaemonSet
replica counts and ``observedGeneration``; Deployment ``Available`` and
``Progressing`` conditions with kube-controller-manager's reasons; Job
``startTime``, counts and ``Complete``/``Failed`` conditions (with
``SuccessCriteriaMet``/``FailureTarget`` first, as Kubernetes >= 1.31 does).
No I/O here; ``kubelet`` does the HTTP.
"""

from __future__ import annotations

import copy
import math
from typing import Any

Obj = dict[str, Any]

SIMULATE_ANNOTATION = "devcluster.headwater.dev/simulate"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
MODES = ("ready", "fail", "pending")

# Status fields that carry times; they are not compared when deciding whether a
# status write is needed, or every reconcile would write.
_TIME_FIELDS = frozenset(
    {
        "lastTransitionTime",
        "lastUpdateTime",
        "lastProbeTime",
        "startTime",
        "startedAt",
        "finishedAt",
        "completionTime",
    }
)


def simulate_mode(obj: Obj) -> str:
    """``ready`` (default), ``fail`` or ``pending`` from the simulate annotation."""
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(SIMULATE_ANNOTATION)
    return value if value in MODES else "ready"


def controller_of(obj: Obj) -> Obj | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


def owner_reference(owner: Obj, *, api_version: str, kind: str) -> Obj:
    meta = owner["metadata"]
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def spec_replicas(obj: Obj) -> int:
    value = (obj.get("spec") or {}).get("replicas")
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


def label(obj: Obj, key: str) -> str | None:
    value = ((obj.get("metadata") or {}).get("labels") or {}).get(key)
    return None if value is None else str(value)


def revision(obj: Obj) -> int:
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION_ANNOTATION)
    try:
        return int(str(value))
    except ValueError:
        return 0


def phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def pod_ready(pod: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def runs_to_completion(pod: Obj) -> bool:
    """Job pods and pods that are not restarted (``kubectl run --restart=Never``,
    Helm test hooks) end Succeeded/Failed; the others keep running."""
    owner = controller_of(pod) or {}
    restart = (pod.get("spec") or {}).get("restartPolicy") or "Always"
    return owner.get("kind") == "Job" or restart in ("Never", "OnFailure")


def crash_looping(pod: Obj) -> bool:
    return any(
        ((s.get("state") or {}).get("waiting") or {}).get("reason") == "CrashLoopBackOff"
        for s in (pod.get("status") or {}).get("containerStatuses") or []
    )


def same_status(current: Obj, desired: Obj) -> bool:
    """Whether writing ``desired`` (a merge patch of status) would change nothing
    but timestamps. ``None`` in ``desired`` means "absent"."""
    return all(
        _strip(current.get(key)) == _strip(value)
        for key, value in desired.items()
        if key not in _TIME_FIELDS
    )


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in _TIME_FIELDS and v is not None}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def conditions(existing: list[Obj] | None, wanted: list[Obj], *, now: str) -> list[Obj]:
    """``wanted`` conditions with times: a condition whose status did not change
    keeps its lastTransitionTime, as every Kubernetes controller does."""
    before = {c.get("type"): c for c in existing or []}
    out = []
    for condition in wanted:
        old = before.get(condition["type"])
        same = old is not None and old.get("status") == condition["status"]
        stamped = dict(condition)
        stamped["lastTransitionTime"] = (old or {}).get("lastTransitionTime") if same else now
        if "lastUpdateTime" in condition:
            unchanged = same and all(
                (old or {}).get(k) == condition.get(k) for k in ("reason", "message")
            )
            stamped["lastUpdateTime"] = (old or {}).get("lastUpdateTime") if unchanged else now
        out.append(stamped)
    return out


# --- pods ----------------------------------------------------------------------


def pod_for(owner: Obj, *, name: str, owner_ref: Obj, labels: Obj | None = None) -> Obj:
    """A pod from ``owner``'s template, owned by it; the simulate annotation is inherited."""
    template = copy.deepcopy((owner.get("spec") or {}).get("template") or {})
    tmeta = template.get("metadata") or {}
    meta: Obj = {
        "name": name,
        "namespace": owner["metadata"].get("namespace", ""),
        "labels": {**(tmeta.get("labels") or {}), **(labels or {})},
        "ownerReferences": [owner_ref],
    }
    annotations = dict(tmeta.get("annotations") or {})
    mode = simulate_mode(owner)
    if mode != "ready":
        annotations.setdefault(SIMULATE_ANNOTATION, mode)
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template.get("spec") or {}}


def _condition(kind: str, status: bool, reason: str = "", message: str = "") -> Obj:
    out: Obj = {"type": kind, "status": "True" if status else "False", "lastProbeTime": None}
    if reason:
        out["reason"] = reason
    if message:
        out["message"] = message
    return out


def pod_status(pod: Obj, *, mode: str, completes: bool, now: str) -> Obj:
    """The status the kubelet would report once the pod's containers settled."""
    containers = [c for c in (pod.get("spec") or {}).get("containers") or [] if c.get("name")]
    names = ", ".join(c["name"] for c in containers)
    state: Obj
    if mode == "pending":
        new_phase, ready, state = "Pending", False, {"waiting": {"reason": "ContainerCreating"}}
    elif mode == "fail" and completes:
        new_phase, ready = "Failed", False
        state = {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": now}}
    elif mode == "fail":
        new_phase, ready = "Running", False
        state = {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": "back-off 10s restarting failed container",
            }
        }
    elif completes:
        new_phase, ready = "Succeeded", False
        state = {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now}}
    else:
        new_phase, ready, state = "Running", True, {"running": {"startedAt": now}}
    finished = new_phase in ("Succeeded", "Failed")
    not_ready_reason = (
        "PodCompleted"
        if new_phase == "Succeeded"
        else "PodFailed"
        if new_phase == "Failed"
        else "ContainersNotReady"
    )
    not_ready_message = "" if finished else f"containers with unready status: [{names}]"
    wanted = [
        _condition("PodReadyToStartContainers", mode != "pending"),
        _condition("Initialized", True),
        _condition(
            "Ready", ready, "" if ready else not_ready_reason, "" if ready else not_ready_message
        ),
        _condition(
            "ContainersReady",
            ready,
            "" if ready else not_ready_reason,
            "" if ready else not_ready_message,
        ),
        _condition("PodScheduled", True),
    ]
    statuses = []
    for container in containers:
        entry: Obj = {
            "name": container["name"],
            "image": container.get("image", ""),
            "imageID": "",
            "ready": ready,
            "started": new_phase == "Running" and mode != "fail",
            "restartCount": 1 if mode == "fail" and not completes else 0,
            "state": state,
        }
        if mode != "pending":
            entry["containerID"] = f"containerd://{container['name']}"
        if mode == "fail" and not completes:
            entry["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error"}}
        statuses.append(entry)
    current = pod.get("status") or {}
    status: Obj = {
        "phase": new_phase,
        "conditions": conditions(current.get("conditions"), wanted, now=now),
        "containerStatuses": statuses,
        "hostIP": "127.0.0.1",
        "qosClass": "BestEffort",
        "startTime": current.get("startTime") or now,
    }
    if mode != "pending":
        status["podIP"] = "127.0.0.1"
    return status


# --- Deployment ---------------------------------------------------------------


def _scaled(value: Any, replicas: int, *, round_up: bool, default: str) -> int:
    raw = default if value is None else value
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    text = str(raw)
    if text.endswith("%"):
        exact = replicas * int(text[:-1]) / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(text)


def max_unavailable(deploy: Obj) -> int:
    spec = deploy.get("spec") or {}
    strategy = spec.get("strategy") or {}
    replicas = spec_replicas(deploy)
    if strategy.get("type", "RollingUpdate") != "RollingUpdate" or replicas == 0:
        return 0
    rolling = strategy.get("rollingUpdate") or {}
    surge = _scaled(rolling.get("maxSurge"), replicas, round_up=True, default="25%")
    unavailable = _scaled(rolling.get("maxUnavailable"), replicas, round_up=False, default="25%")
    if surge == 0 and unavailable == 0:
        unavailable = 1  # the deployment controller's rule: never both zero
    return min(unavailable, replicas)


def replicaset_for(deploy: Obj, *, name: str, pod_hash: str, revision: int, owner_ref: Obj) -> Obj:
    spec = deploy.get("spec") or {}
    template = copy.deepcopy(spec.get("template") or {})
    tmeta = template.setdefault("metadata", {})
    tmeta["labels"] = {**(tmeta.get("labels") or {}), "pod-template-hash": pod_hash}
    selector = copy.deepcopy(spec.get("selector") or {})
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), "pod-template-hash": pod_hash}
    replicas = spec_replicas(deploy)
    annotations = {
        REVISION_ANNOTATION: str(revision),
        "deployment.kubernetes.io/desired-replicas": str(replicas),
        "deployment.kubernetes.io/max-replicas": str(replicas + 1),
    }
    mode = simulate_mode(deploy)
    if mode != "ready":
        annotations[SIMULATE_ANNOTATION] = mode
    rs_spec: Obj = {"replicas": replicas, "selector": selector, "template": template}
    if spec.get("minReadySeconds"):
        rs_spec["minReadySeconds"] = spec["minReadySeconds"]
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": deploy["metadata"].get("namespace", ""),
            "labels": dict(tmeta["labels"]),
            "annotations": annotations,
            "ownerReferences": [owner_ref],
        },
        "spec": rs_spec,
    }


def deployment_status(
    deploy: Obj,
    *,
    new: Obj | None,
    old: list[Obj],
    new_pods: list[Obj],
    created: bool,
    mode: str,
    now: str,
) -> Obj:
    want = spec_replicas(deploy)
    current = deploy.get("status") or {}

    def counts(rs: Obj | None, field: str) -> int:
        return int(((rs or {}).get("status") or {}).get(field) or 0)

    updated = counts(new, "replicas")
    total = updated + sum(counts(rs, "replicas") for rs in old)
    ready = counts(new, "readyReplicas") + sum(counts(rs, "readyReplicas") for rs in old)
    available = counts(new, "availableReplicas") + sum(
        counts(rs, "availableReplicas") for rs in old
    )
    new_name = (new or {}).get("metadata", {}).get("name", "")
    complete = updated == want and total == want and available >= want
    failing = mode == "fail" and any(crash_looping(p) for p in new_pods)
    if (deploy.get("spec") or {}).get("paused"):
        progressing = {
            "type": "Progressing",
            "status": "Unknown",
            "reason": "DeploymentPaused",
            "message": "Deployment is paused",
        }
    elif failing:
        progressing = {
            "type": "Progressing",
            "status": "False",
            "reason": "ProgressDeadlineExceeded",
            "message": f'ReplicaSet "{new_name}" has timed out progressing.',
        }
    elif complete:
        progressing = {
            "type": "Progressing",
            "status": "True",
            "reason": "NewReplicaSetAvailable",
            "message": f'ReplicaSet "{new_name}" has successfully progressed.',
        }
    elif created:
        progressing = {
            "type": "Progressing",
            "status": "True",
            "reason": "NewReplicaSetCreated",
            "message": f'Created new replica set "{new_name}"',
        }
    else:
        progressing = {
            "type": "Progressing",
            "status": "True",
            "reason": "ReplicaSetUpdated",
            "message": f'ReplicaSet "{new_name}" is progressing.',
        }
    is_available = available >= want - max_unavailable(deploy)
    availability = {
        "type": "Available",
        "status": "True" if is_available else "False",
        "reason": "MinimumReplicasAvailable" if is_available else "MinimumReplicasUnavailable",
        "message": "Deployment has minimum availability."
        if is_available
        else "Deployment does not have minimum availability.",
    }
    wanted = [
        {**availability, "lastUpdateTime": now},
        {**progressing, "lastUpdateTime": now},
    ]
    status: Obj = {
        "observedGeneration": deploy["metadata"].get("generation", 1),
        "replicas": total,
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": available,
        "unavailableReplicas": max(0, want - available) or None,
        "conditions": conditions(current.get("conditions"), wanted, now=now),
    }
    return status


# --- Job -----------------------------------------------------------------------


def job_finished(status: Obj) -> bool:
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def job_status(
    current: Obj,
    *,
    active: int,
    ready: int,
    succeeded: int,
    failed: int,
    completions: int,
    failing: bool,
    now: str,
) -> Obj:
    status: Obj = {
        "startTime": current.get("startTime") or now,
        "active": active or None,
        "ready": ready,
        "succeeded": succeeded or None,
        "failed": failed or None,
        "terminating": 0,
    }
    if failing:
        message = "Job has reached the specified backoff limit"
        wanted = [
            {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded"},
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"},
        ]
        status["active"] = None
    elif succeeded >= completions:
        message = "Reached expected number of succeeded pods"
        wanted = [
            {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached"},
            {"type": "Complete", "status": "True", "reason": "CompletionsReached"},
        ]
        status["active"] = None
        status["completionTime"] = now
    else:
        return status
    stamped = [{**c, "message": message, "lastProbeTime": now} for c in wanted]
    status["conditions"] = conditions(current.get("conditions"), stamped, now=now)
    return status
