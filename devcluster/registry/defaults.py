"""Defaults the API server fills into common built-in kinds.

kubernetes-validate ships schemas without defaults, so these are the values
of the Kubernetes defaulting functions (``pkg/apis/*/v1/defaults.go``) for
the kinds GitOps workloads use: workloads and their pod templates, Pods,
Services, Jobs. SSA relies on them (a field let go of returns to its default
with no owner) and so do diffs (``kubectl diff`` shows no noise for them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devcluster.machinery import objects

Obj = dict[str, Any]


def _own(parent: Obj, key: str) -> Obj:
    """``parent[key]`` replaced by a shallow copy (or ``{}``) that may be changed.

    Fillers copy exactly the containers they may write into, so defaulting
    never touches the caller's object and never pays for a deep copy.
    """
    value = parent.get(key)
    owned: Obj = dict(value) if isinstance(value, dict) else {}
    parent[key] = owned
    return owned


def _own_items(parent: Obj, key: str) -> list[Any]:
    value = parent.get(key)
    if not isinstance(value, list):
        return []
    owned = [dict(item) if isinstance(item, dict) else item for item in value]
    parent[key] = owned
    return owned


def _missing(obj: Obj, key: str, value: Any) -> None:
    if obj.get(key) is None:
        obj[key] = objects.clone(value)


def _container(item: Obj) -> None:
    image = str(item.get("image") or "")
    latest = ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")
    _missing(item, "imagePullPolicy", "Always" if latest and "@" not in image else "IfNotPresent")
    _missing(item, "terminationMessagePath", "/dev/termination-log")
    _missing(item, "terminationMessagePolicy", "File")
    _missing(item, "resources", {})
    for port in _own_items(item, "ports"):
        if isinstance(port, dict):
            _missing(port, "protocol", "TCP")


def pod_spec(spec: Obj) -> None:
    _missing(spec, "restartPolicy", "Always")
    _missing(spec, "terminationGracePeriodSeconds", 30)
    _missing(spec, "dnsPolicy", "ClusterFirst")
    _missing(spec, "schedulerName", "default-scheduler")
    _missing(spec, "securityContext", {})
    for key in ("containers", "initContainers"):
        for item in _own_items(spec, key):
            if isinstance(item, dict):
                _container(item)


def _template(spec: Obj) -> None:
    template = spec.get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        pod_spec(_own(_own(spec, "template"), "spec"))


def deployment(obj: Obj) -> None:
    spec = _own(obj, "spec")
    _missing(spec, "replicas", 1)
    _missing(spec, "revisionHistoryLimit", 10)
    _missing(spec, "progressDeadlineSeconds", 600)
    strategy = _own(spec, "strategy")
    _missing(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _own(strategy, "rollingUpdate")
        _missing(rolling, "maxUnavailable", "25%")
        _missing(rolling, "maxSurge", "25%")
    _template(spec)


def replica_set(obj: Obj) -> None:
    spec = _own(obj, "spec")
    _missing(spec, "replicas", 1)
    _template(spec)


def stateful_set(obj: Obj) -> None:
    spec = _own(obj, "spec")
    _missing(spec, "replicas", 1)
    _missing(spec, "podManagementPolicy", "OrderedReady")
    _missing(spec, "revisionHistoryLimit", 10)
    _missing(
        spec,
        "persistentVolumeClaimRetentionPolicy",
        {"whenDeleted": "Retain", "whenScaled": "Retain"},
    )
    strategy = _own(spec, "updateStrategy")
    _missing(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        _missing(strategy, "rollingUpdate", {"partition": 0})
    _template(spec)


def daemon_set(obj: Obj) -> None:
    spec = _own(obj, "spec")
    _missing(spec, "revisionHistoryLimit", 10)
    strategy = _own(spec, "updateStrategy")
    _missing(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        _missing(strategy, "rollingUpdate", {"maxUnavailable": 1, "maxSurge": 0})
    _template(spec)


def job(obj: Obj) -> None:
    spec = _own(obj, "spec")
    _missing(spec, "parallelism", 1)
    _missing(spec, "completions", 1)
    _missing(spec, "backoffLimit", 6)
    _missing(spec, "completionMode", "NonIndexed")
    _missing(spec, "suspend", False)
    template = spec.get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        pod = _own(_own(spec, "template"), "spec")
        _missing(pod, "restartPolicy", "Never")
        pod_spec(pod)


def pod(obj: Obj) -> None:
    spec = _own(obj, "spec")
    pod_spec(spec)
    _missing(spec, "enableServiceLinks", True)
    _missing(spec, "preemptionPolicy", "PreemptLowerPriority")
    _missing(spec, "priority", 0)


def service(obj: Obj) -> None:
    spec = _own(obj, "spec")
    _missing(spec, "type", "ClusterIP")
    _missing(spec, "sessionAffinity", "None")
    if spec["type"] in ("ClusterIP", "NodePort", "LoadBalancer"):
        _missing(spec, "internalTrafficPolicy", "Cluster")
        _missing(spec, "ipFamilyPolicy", "SingleStack")
        _missing(spec, "ipFamilies", ["IPv4"])
    for port in _own_items(spec, "ports"):
        if isinstance(port, dict):
            _missing(port, "protocol", "TCP")
            if port.get("targetPort") is None and port.get("port") is not None:
                port["targetPort"] = port["port"]


_BY_RESOURCE: dict[str, Callable[[Obj], None]] = {
    "apps/deployments": deployment,
    "apps/replicasets": replica_set,
    "apps/statefulsets": stateful_set,
    "apps/daemonsets": daemon_set,
    "batch/jobs": job,
    "/pods": pod,
    "/services": service,
}


def defaulter(resource_key: str) -> Callable[[Obj], Obj] | None:
    """A function returning a defaulted copy of an object of ``resource_key``, if it has "
    "defaults."""
    fill = _BY_RESOURCE.get(resource_key)
    if fill is None:
        return None

    def apply(obj: Obj) -> Obj:
        result = dict(obj)
        fill(result)
        return result

    return apply
