"""Health of one Kubernetes object, by the kstatus rules (pure: no I/O).

``compute`` is kstatus's ``Compute``: the generic rules (deletion,
generation vs observedGeneration, ``Reconciling``/``Stalled`` conditions),
then the rule of a built-in kind, else the first ``Ready`` condition, else
Current. ``compute_flux`` adds what Flux's kustomize-controller puts in
front of it: its own Job reader (a Job is Current only once complete) and
the CEL ``healthCheckExprs`` (see ``shared.kube.healthexprs``).

Results are ``Result(status, message)``; a field of the wrong type (an int
field holding a string, an unknown Pod phase) gives ``Unknown`` with the
error kept in the message, never an exception. Int fields follow Go's
accessors: a value that is not an int (bool and float included) reads as the
default, except ``metadata.generation``/``status.observedGeneration``, which
must be ints when present.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
from collections.abc import Callable, Mapping
from typing import Any

_MAX_INT32 = 2147483647
_POD_SCHEDULING_GRACE = datetime.timedelta(seconds=15)


class Status(enum.StrEnum):
    IN_PROGRESS = "InProgress"
    CURRENT = "Current"
    FAILED = "Failed"
    TERMINATING = "Terminating"
    NOT_FOUND = "NotFound"
    UNKNOWN = "Unknown"


@dataclasses.dataclass(frozen=True)
class Result:
    status: Status
    message: str


class FieldError(ValueError):
    """A status field has a type kstatus cannot read."""


def kind_key(obj: Mapping[str, Any]) -> str:
    """``<group>/<Kind>``, or ``<Kind>`` for the core group; the version is ignored."""
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    kind = str(obj.get("kind", ""))
    return f"{group}/{kind}" if group else kind


# --- field access with Go's semantics ------------------------------------------------------


def _get(obj: Mapping[str, Any], *path: str) -> Any:
    value: Any = obj
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _int(obj: Mapping[str, Any], *path: str, default: int = 0) -> int:
    value = _get(obj, *path)
    # NB: bool is an int subclass in Python but not in Go's unstructured accessors.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return default


def _strict_int(obj: Mapping[str, Any], *path: str) -> int | None:
    value = _get(obj, *path)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise FieldError(
        f".{'.'.join(path)} accessor error: {value!r} is of the type "
        f"{type(value).__name__}, expected int64"
    )


def _str(obj: Mapping[str, Any], *path: str) -> str:
    value = _get(obj, *path)
    return value if isinstance(value, str) else ""


def conditions(obj: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = _get(obj, "status", "conditions")
    if not isinstance(found, list):
        return []
    return [item for item in found if isinstance(item, Mapping)]


def _condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for condition in conditions(obj):
        if condition.get("type") == kind:
            return condition
    return None


def _is_true(obj: Mapping[str, Any], kind: str) -> bool:
    condition = _condition(obj, kind)
    return condition is not None and condition.get("status") == "True"


def _message(condition: Mapping[str, Any]) -> str:
    return str(condition.get("message") or "")


# --- generic rules -------------------------------------------------------------------------


def _generic(obj: Mapping[str, Any]) -> Result | None:
    if _get(obj, "metadata", "deletionTimestamp"):
        return Result(Status.TERMINATING, "Resource scheduled for deletion")
    generation = _strict_int(obj, "metadata", "generation")
    observed = _strict_int(obj, "status", "observedGeneration")
    if generation is not None and observed is not None and generation != observed:
        return Result(
            Status.IN_PROGRESS,
            f"{obj.get('kind')} generation is {generation}, "
            f"but latest observed generation is {observed}",
        )
    for condition in conditions(obj):
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Reconciling":
            return Result(Status.IN_PROGRESS, _message(condition))
        if condition.get("type") == "Stalled":
            return Result(Status.FAILED, _message(condition))
    return None


# --- per-kind rules ------------------------------------------------------------------------


def _deployment(obj: Mapping[str, Any]) -> Result:
    deadline = _get(obj, "spec", "progressDeadlineSeconds")
    progressing = deadline is None or deadline == _MAX_INT32
    available = False
    for condition in conditions(obj):
        kind, status, reason = (
            condition.get("type"),
            condition.get("status"),
            condition.get("reason"),
        )
        if kind == "Progressing" and reason == "ProgressDeadlineExceeded":
            return Result(Status.FAILED, "Progress deadline exceeded")
        if kind == "Progressing" and status == "True" and reason == "NewReplicaSetAvailable":
            progressing = True
        if kind == "Available" and status == "True":
            available = True
    spec = _int(obj, "spec", "replicas", default=1)
    replicas = _int(obj, "status", "replicas")
    updated = _int(obj, "status", "updatedReplicas")
    ready = _int(obj, "status", "readyReplicas")
    avail = _int(obj, "status", "availableReplicas")
    if spec > replicas:
        return Result(Status.IN_PROGRESS, f"Replicas: {replicas}/{spec}")
    if spec > updated:
        return Result(Status.IN_PROGRESS, f"Updated: {updated}/{spec}")
    if replicas > spec:
        return Result(Status.IN_PROGRESS, f"Pending termination: {replicas - spec}")
    if updated > avail:
        return Result(Status.IN_PROGRESS, f"Available: {avail}/{updated}")
    if spec > ready:
        return Result(Status.IN_PROGRESS, f"Ready: {ready}/{spec}")
    if not progressing:
        return Result(Status.IN_PROGRESS, "ReplicaSet not Available")
    if not available:
        return Result(Status.IN_PROGRESS, "Deployment not Available")
    return Result(Status.CURRENT, f"Deployment is available. Replicas: {replicas}")


def _statefulset(obj: Mapping[str, Any]) -> Result:
    if _str(obj, "spec", "updateStrategy", "type") == "OnDelete":
        return Result(Status.CURRENT, "StatefulSet is using the ondelete update strategy")
    spec = _int(obj, "spec", "replicas", default=1)
    partition = _int(obj, "spec", "updateStrategy", "rollingUpdate", "partition", default=-1)
    replicas = _int(obj, "status", "replicas")
    ready = _int(obj, "status", "readyReplicas")
    current = _int(obj, "status", "currentReplicas")
    updated = _int(obj, "status", "updatedReplicas")
    if spec > replicas:
        return Result(Status.IN_PROGRESS, f"Replicas: {replicas}/{spec}")
    if spec > ready:
        return Result(Status.IN_PROGRESS, f"Ready: {ready}/{spec}")
    if replicas > spec:
        return Result(Status.IN_PROGRESS, f"Pending termination: {replicas - spec}")
    if partition != -1:
        if updated < spec - partition:
            return Result(Status.IN_PROGRESS, f"updated: {updated}/{spec - partition}")
        return Result(Status.CURRENT, f"Partition rollout complete. updated: {updated}")
    if spec > current:
        return Result(Status.IN_PROGRESS, f"current: {current}/{spec}")
    if _str(obj, "status", "currentRevision") != _str(obj, "status", "updateRevision"):
        return Result(Status.IN_PROGRESS, "Waiting for updated revision to match current")
    return Result(Status.CURRENT, f"All replicas scheduled as expected. Replicas: {replicas}")


def _daemonset(obj: Mapping[str, Any]) -> Result:
    if _get(obj, "metadata", "generation") is None:
        return Result(Status.IN_PROGRESS, "DaemonSet metadata.generation not found")
    if _get(obj, "status", "observedGeneration") is None:
        return Result(Status.IN_PROGRESS, "DaemonSet status.observedGeneration not found")
    desired = _int(obj, "status", "desiredNumberScheduled", default=-1)
    if desired == -1:
        return Result(Status.IN_PROGRESS, "Missing .status.desiredNumberScheduled")
    for field, label in (
        ("currentNumberScheduled", "Current"),
        ("updatedNumberScheduled", "Updated"),
        ("numberAvailable", "Available"),
        ("numberReady", "Ready"),
    ):
        count = _int(obj, "status", field)
        if desired > count:
            return Result(Status.IN_PROGRESS, f"{label}: {count}/{desired}")
    return Result(Status.CURRENT, f"All replicas scheduled as expected. Replicas: {desired}")


def _replicaset(obj: Mapping[str, Any]) -> Result:
    if _is_true(obj, "ReplicaFailure"):
        return Result(Status.IN_PROGRESS, "Replica Failure condition. Check Pods")
    spec = _int(obj, "spec", "replicas", default=1)
    labelled = _int(obj, "status", "fullyLabeledReplicas")
    available = _int(obj, "status", "availableReplicas")
    ready = _int(obj, "status", "readyReplicas")
    replicas = _int(obj, "status", "replicas")
    if spec > labelled:
        return Result(Status.IN_PROGRESS, f"Labelled: {labelled}/{spec}")
    if spec > available:
        return Result(Status.IN_PROGRESS, f"Available: {available}/{spec}")
    if spec > ready:
        return Result(Status.IN_PROGRESS, f"Ready: {ready}/{spec}")
    if replicas > spec:
        return Result(Status.IN_PROGRESS, f"Pending termination: {replicas - spec}")
    return Result(Status.CURRENT, f"ReplicaSet is available. Replicas: {replicas}")


def _parse_time(value: str) -> datetime.datetime | None:
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _pod(obj: Mapping[str, Any], now: datetime.datetime) -> Result:
    phase = _get(obj, "status", "phase")
    phase = "" if phase is None else phase
    if phase == "Succeeded":
        return Result(Status.CURRENT, "Pod has completed successfully")
    if phase == "Failed":
        return Result(Status.CURRENT, "Pod has completed, but not successfully")
    if phase == "Running":
        if _is_true(obj, "Ready"):
            return Result(Status.CURRENT, "Pod is Ready")
        crashing = [
            str(container.get("name", ""))
            for container in _get(obj, "status", "containerStatuses") or []
            if isinstance(container, Mapping)
            and _str(container, "state", "waiting", "reason") == "CrashLoopBackOff"
        ]
        if crashing:
            return Result(Status.FAILED, f"Containers in CrashLoop state: {','.join(crashing)}")
        return Result(Status.IN_PROGRESS, "Pod is running but is not Ready")
    if phase == "Pending":
        scheduled = _condition(obj, "PodScheduled")
        if (
            scheduled is not None
            and scheduled.get("status") == "False"
            and scheduled.get("reason") == "Unschedulable"
        ):
            created = _parse_time(_str(obj, "metadata", "creationTimestamp"))
            if created is not None and now - created > _POD_SCHEDULING_GRACE:
                return Result(Status.FAILED, "Pod could not be scheduled")
            return Result(Status.IN_PROGRESS, "Pod has not been scheduled")
        return Result(Status.IN_PROGRESS, "Pod is in the Pending phase")
    if phase == "":
        return Result(Status.IN_PROGRESS, "Pod phase not available")
    raise FieldError(f"unknown phase {phase}")


def _job_counts(obj: Mapping[str, Any]) -> tuple[int, int]:
    parallelism = _int(obj, "spec", "parallelism", default=1)
    completions = _int(obj, "spec", "completions", default=parallelism)
    return parallelism, completions


def _job_in_progress(obj: Mapping[str, Any]) -> str:
    return (
        f"Job in progress. success:{_int(obj, 'status', 'succeeded')}, "
        f"active: {_int(obj, 'status', 'active')}, failed: {_int(obj, 'status', 'failed')}"
    )


def _job(obj: Mapping[str, Any]) -> Result:
    _, completions = _job_counts(obj)
    for condition in conditions(obj):
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Complete":
            succeeded = _int(obj, "status", "succeeded")
            return Result(Status.CURRENT, f"Job Completed. succeeded: {succeeded}/{completions}")
        if condition.get("type") == "Failed":
            failed = _int(obj, "status", "failed")
            return Result(Status.FAILED, f"Job Failed. failed: {failed}/{completions}")
    if _get(obj, "status", "startTime") is None:
        return Result(Status.IN_PROGRESS, "Job not started")
    return Result(Status.CURRENT, _job_in_progress(obj))


def flux_job(obj: Mapping[str, Any]) -> Result:
    """Flux's Job reader: it replaces the kstatus Job rule and its generic steps."""
    parallelism, completions = _job_counts(obj)
    if _get(obj, "spec", "suspend") is True:
        return Result(Status.CURRENT, "Job is suspended")
    for condition in conditions(obj):
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Complete":
            succeeded = _int(obj, "status", "succeeded")
            return Result(Status.CURRENT, f"Job Completed. succeeded: {succeeded}/{completions}")
        if condition.get("type") == "Failed":
            failed = _int(obj, "status", "failed")
            return Result(Status.FAILED, f"Job Failed. failed: {failed}/{completions}")
    if _get(obj, "status", "startTime") is None:
        return Result(Status.IN_PROGRESS, f"Job not started. active: 0/{parallelism}")
    return Result(Status.IN_PROGRESS, _job_in_progress(obj))


def _pvc(obj: Mapping[str, Any]) -> Result:
    phase = _str(obj, "status", "phase")
    if phase != "Bound":
        return Result(Status.IN_PROGRESS, f"PVC is not Bound. phase: {phase}")
    return Result(Status.CURRENT, "PVC is Bound")


def _service(obj: Mapping[str, Any]) -> Result:
    if _str(obj, "spec", "type") == "LoadBalancer" and not _str(obj, "spec", "clusterIP"):
        return Result(Status.IN_PROGRESS, "ClusterIP not set. Service type: LoadBalancer")
    return Result(Status.CURRENT, "Service is ready")


def _crd(obj: Mapping[str, Any]) -> Result:
    for condition in conditions(obj):
        kind, status = condition.get("type"), condition.get("status")
        if kind == "NamesAccepted" and status == "False":
            return Result(Status.FAILED, _message(condition))
        if kind == "Established":
            if status == "False" and condition.get("reason") != "Installing":
                return Result(Status.FAILED, _message(condition))
            if status == "True":
                return Result(Status.CURRENT, "CRD is established")
    return Result(Status.IN_PROGRESS, "Install in progress")


def _always_ready(obj: Mapping[str, Any]) -> Result:
    return Result(Status.CURRENT, "Resource is always ready")


def _pdb(obj: Mapping[str, Any]) -> Result:
    return Result(Status.CURRENT, "AllowedDisruptions has been computed.")


_RULES: dict[str, Callable[[Mapping[str, Any]], Result]] = {
    "apps/Deployment": _deployment,
    "apps/StatefulSet": _statefulset,
    "apps/DaemonSet": _daemonset,
    "apps/ReplicaSet": _replicaset,
    "batch/Job": _job,
    "batch/CronJob": _always_ready,
    "PersistentVolumeClaim": _pvc,
    "Service": _service,
    "Secret": _always_ready,
    "ConfigMap": _always_ready,
    "policy/PodDisruptionBudget": _pdb,
    "apiextensions.k8s.io/CustomResourceDefinition": _crd,
}


def _compute(obj: Mapping[str, Any], now: datetime.datetime) -> Result:
    generic = _generic(obj)
    if generic is not None:
        return generic
    key = kind_key(obj)
    if key == "Pod":
        return _pod(obj, now)
    rule = _RULES.get(key)
    if rule is not None:
        return rule(obj)
    ready = _condition(obj, "Ready")
    if ready is not None:
        if ready.get("status") == "True":
            return Result(Status.CURRENT, "Resource is Ready")
        return Result(Status.IN_PROGRESS, _message(ready))
    return Result(Status.CURRENT, "Resource is current")


def compute(obj: Mapping[str, Any], *, now: datetime.datetime | None = None) -> Result:
    """kstatus's status of ``obj``; ``Unknown`` when a field cannot be read."""
    try:
        return _compute(obj, now or datetime.datetime.now(datetime.UTC))
    except FieldError as error:
        return Result(Status.UNKNOWN, str(error))


Reader = Callable[[Mapping[str, Any]], Result | None]
"""A custom status reader: the result for objects it handles, ``None`` for others."""


def compute_flux(
    obj: Mapping[str, Any],
    *,
    readers: tuple[Reader, ...] = (),
    now: datetime.datetime | None = None,
) -> Result:
    """The status as kustomize-controller computes it: Job reader, custom readers, kstatus.

    ``readers`` are tried in order after the Job reader (the CEL health
    checks are one); the first that returns a result wins.
    """
    if kind_key(obj) == "batch/Job":
        return flux_job(obj)
    for reader in readers:
        found = reader(obj)
        if found is not None:
            return found
    return compute(obj, now=now)
