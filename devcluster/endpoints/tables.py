"""Table output (``Accept: application/json;as=Table;v=v1;g=meta.k8s.io``).

kubectl prints what the server renders: column definitions plus one row per
object, each row carrying the object's metadata (``PartialObjectMetadata``)
or the whole object (``includeObject=Object``). Custom resources use their
CRD's ``additionalPrinterColumns`` (Name plus those; Name and Age without
them); common built-ins use the columns the API server prints; anything else
Name and Age.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from typing import Any

from devcluster.apiextensions import crds
from devcluster.machinery import jsonpaths, objects
from devcluster.schemas import resources

Obj = dict[str, Any]
Column = tuple[str, str, Callable[[Obj], Any], int]  # name, type, cell, priority


def negotiate(accept: str | None) -> str | None:
    """``v1``/``v1beta1`` when the Accept header asks for a Table first."""
    for part in (accept or "").split(","):
        params = dict(item.strip().split("=", 1) for item in part.split(";")[1:] if "=" in item)
        if (
            params.get("as") == "Table"
            and params.get("g") == "meta.k8s.io"
            and params.get("v") in ("v1", "v1beta1")
        ):
            return params["v"]
    return None


def age(timestamp: str | None, now: datetime.datetime | None = None) -> str:
    """A duration the way kubectl's ``HumanDuration`` prints it."""
    if not timestamp:
        return "<unknown>"
    try:
        seconds = int(((now or objects.now()) - objects.parse_timestamp(timestamp)).total_seconds())
    except ValueError:
        return "<unknown>"
    seconds = max(seconds, 0)
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if days < 8:
        rest = hours % 24
        return f"{days}d{rest}h" if rest else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    return f"{days // 365}y"


def _get(obj: Obj, *path: str, default: Any = None) -> Any:
    node: Any = obj
    for part in path:
        if not isinstance(node, dict):
            return default
        node = node.get(part)
    return default if node is None else node


def _ratio(obj: Obj, done: tuple[str, ...], wanted: tuple[str, ...]) -> str:
    return f"{_get(obj, *done, default=0)}/{_get(obj, *wanted, default=1)}"


def _involved(obj: Obj) -> str:
    kind = str(_get(obj, "involvedObject", "kind", default="")).lower()
    return f"{kind}/{_get(obj, 'involvedObject', 'name', default='')}"


def _age(obj: Obj) -> str:
    return age(_get(obj, "metadata", "creationTimestamp"))


def _pod_ready(obj: Obj) -> str:
    statuses = _get(obj, "status", "containerStatuses", default=[])
    total = len(_get(obj, "spec", "containers", default=[]))
    ready = sum(1 for s in statuses if s.get("ready"))
    return f"{ready}/{total}"


def _ports(obj: Obj) -> str:
    ports = _get(obj, "spec", "ports", default=[])
    shown = [
        f"{p.get('port')}{':' + str(p['nodePort']) if p.get('nodePort') else ''}"
        f"/{p.get('protocol', 'TCP')}"
        for p in ports
    ]
    return ",".join(shown) or "<none>"


def _job_status(obj: Obj) -> str:
    for condition in _get(obj, "status", "conditions", default=[]):
        if condition.get("status") == "True" and condition.get("type") in ("Complete", "Failed"):
            return str(condition["type"])
    return "Running"


def _hpa_targets(obj: Obj) -> str:
    """kubectl's TARGETS of an HPA: ``<metric>: <current>/<target>`` per metric."""
    shown = []
    current = _get(obj, "status", "currentMetrics", default=[]) or []
    for index, metric in enumerate(_get(obj, "spec", "metrics", default=[]) or []):
        kind = metric.get("type", "")
        source = metric.get(kind[:1].lower() + kind[1:]) or {}
        target = source.get("target") or {}
        now = (current[index] if index < len(current) else {}).get(
            kind[:1].lower() + kind[1:]
        ) or {}
        name = source.get("name") or (source.get("metric") or {}).get("name", "")
        if "averageUtilization" in target or (
            kind == "Resource" and not target.get("averageValue")
        ):
            used = (now.get("current") or {}).get("averageUtilization")
            wanted = target.get("averageUtilization")
            shown.append(
                f"{name}: {'<unknown>' if used is None else f'{used}%'}/"
                f"{'<auto>' if wanted is None else f'{wanted}%'}"
            )
        else:
            value = target.get("averageValue") or target.get("value") or ""
            used = (now.get("current") or {}).get("averageValue") or (now.get("current") or {}).get(
                "value"
            )
            shown.append(f"{name}: {used or '<unknown>'}/{value}")
    if len(shown) > 2:
        return f"{', '.join(shown[:2])} + {len(shown) - 2} more..."
    return ", ".join(shown) or "<none>"


_NAME: Column = ("Name", "string", lambda o: _get(o, "metadata", "name", default=""), 0)
_AGE: Column = ("Age", "string", _age, 0)
_BUILTIN: dict[str, list[Column]] = {
    "/configmaps": [
        _NAME,
        ("Data", "integer", lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {}), 0),
        _AGE,
    ],
    "/secrets": [
        _NAME,
        ("Type", "string", lambda o: o.get("type", "Opaque"), 0),
        ("Data", "integer", lambda o: len(o.get("data") or {}), 0),
        _AGE,
    ],
    "/namespaces": [
        _NAME,
        ("Status", "string", lambda o: _get(o, "status", "phase", default=""), 0),
        _AGE,
    ],
    "/pods": [
        _NAME,
        ("Ready", "string", _pod_ready, 0),
        ("Status", "string", lambda o: _get(o, "status", "phase", default="Pending"), 0),
        (
            "Restarts",
            "string",
            lambda o: str(
                sum(
                    s.get("restartCount", 0)
                    for s in _get(o, "status", "containerStatuses", default=[])
                )
            ),
            0,
        ),
        _AGE,
        ("IP", "string", lambda o: _get(o, "status", "podIP", default="<none>"), 1),
        ("Node", "string", lambda o: _get(o, "spec", "nodeName", default="<none>"), 1),
    ],
    "/services": [
        _NAME,
        ("Type", "string", lambda o: _get(o, "spec", "type", default="ClusterIP"), 0),
        ("Cluster-IP", "string", lambda o: _get(o, "spec", "clusterIP", default="<none>"), 0),
        (
            "External-IP",
            "string",
            lambda o: ",".join(_get(o, "spec", "externalIPs", default=[])) or "<none>",
            0,
        ),
        ("Port(s)", "string", _ports, 0),
        _AGE,
    ],
    "apps/deployments": [
        _NAME,
        (
            "Ready",
            "string",
            lambda o: _ratio(o, ("status", "readyReplicas"), ("spec", "replicas")),
            0,
        ),
        ("Up-to-date", "integer", lambda o: _get(o, "status", "updatedReplicas", default=0), 0),
        ("Available", "integer", lambda o: _get(o, "status", "availableReplicas", default=0), 0),
        _AGE,
    ],
    "apps/replicasets": [
        _NAME,
        ("Desired", "integer", lambda o: _get(o, "spec", "replicas", default=1), 0),
        ("Current", "integer", lambda o: _get(o, "status", "replicas", default=0), 0),
        ("Ready", "integer", lambda o: _get(o, "status", "readyReplicas", default=0), 0),
        _AGE,
    ],
    "apps/statefulsets": [
        _NAME,
        (
            "Ready",
            "string",
            lambda o: _ratio(o, ("status", "readyReplicas"), ("spec", "replicas")),
            0,
        ),
        _AGE,
    ],
    "apps/daemonsets": [
        _NAME,
        ("Desired", "integer", lambda o: _get(o, "status", "desiredNumberScheduled", default=0), 0),
        ("Current", "integer", lambda o: _get(o, "status", "currentNumberScheduled", default=0), 0),
        ("Ready", "integer", lambda o: _get(o, "status", "numberReady", default=0), 0),
        (
            "Up-to-date",
            "integer",
            lambda o: _get(o, "status", "updatedNumberScheduled", default=0),
            0,
        ),
        ("Available", "integer", lambda o: _get(o, "status", "numberAvailable", default=0), 0),
        _AGE,
    ],
    "batch/jobs": [
        _NAME,
        ("Status", "string", _job_status, 0),
        (
            "Completions",
            "string",
            lambda o: _ratio(o, ("status", "succeeded"), ("spec", "completions")),
            0,
        ),
        _AGE,
    ],
    "autoscaling/horizontalpodautoscalers": [
        _NAME,
        (
            "Reference",
            "string",
            lambda o: (
                f"{_get(o, 'spec', 'scaleTargetRef', 'kind', default='')}/"
                f"{_get(o, 'spec', 'scaleTargetRef', 'name', default='')}"
            ),
            0,
        ),
        ("Targets", "string", _hpa_targets, 0),
        ("MinPods", "string", lambda o: str(_get(o, "spec", "minReplicas", default=1)), 0),
        ("MaxPods", "integer", lambda o: _get(o, "spec", "maxReplicas", default=0), 0),
        ("Replicas", "integer", lambda o: _get(o, "status", "currentReplicas", default=0), 0),
        _AGE,
    ],
    "apiextensions.k8s.io/customresourcedefinitions": [
        _NAME,
        ("Created At", "date", lambda o: _get(o, "metadata", "creationTimestamp", default=""), 0),
    ],
    "/events": [
        (
            "Last Seen",
            "string",
            lambda o: age(o.get("lastTimestamp") or _get(o, "metadata", "creationTimestamp")),
            0,
        ),
        ("Type", "string", lambda o: o.get("type", ""), 0),
        ("Reason", "string", lambda o: o.get("reason", ""), 0),
        (
            "Object",
            "string",
            lambda o: _involved(o),
            0,
        ),
        ("Message", "string", lambda o: o.get("message", ""), 0),
    ],
}


def _custom_cell(path: str, kind: str) -> Callable[[Obj], Any]:
    def cell(obj: Obj) -> Any:
        found = jsonpaths.evaluate(path, obj)
        if not found:
            return None
        value = (
            found[0]
            if len(found) == 1
            else ",".join(json.dumps(v) if not isinstance(v, str) else v for v in found)
        )
        if kind == "date":
            # Custom-resource tables show dates as ages (kubectl prints them as sent).
            return age(value) if isinstance(value, str) else None
        if kind == "string" and not isinstance(value, str):
            return (
                json.dumps(value)
                if isinstance(value, dict | list)
                else str(value).lower()
                if isinstance(value, bool)
                else str(value)
            )
        return value

    return cell


def columns(res: resources.Resource) -> list[Column]:
    if res.crd is not None:
        custom = crds.version_entry(res.crd, res.version).get("additionalPrinterColumns")
        if not custom:
            return [_NAME, _AGE]
        return [_NAME] + [
            (
                c["name"],
                c.get("type", "string"),
                _custom_cell(c["jsonPath"], c.get("type", "string")),
                int(c.get("priority", 0)),
            )
            for c in custom
        ]
    return _BUILTIN.get(res.key, [_NAME, _AGE])


def _row(obj: Obj, cols: list[Column], include: str) -> Obj:
    row: Obj = {"cells": [cell(obj) for _, _, cell, _ in cols]}
    if include == "Object":
        row["object"] = obj
    elif include != "None":
        row["object"] = {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata", {}),
        }
    return row


def table(
    res: resources.Resource,
    items: list[Obj],
    *,
    version: str,
    include: str = "Metadata",
    list_meta: Obj | None = None,
) -> Obj:
    cols = columns(res)
    return {
        "kind": "Table",
        "apiVersion": f"meta.k8s.io/{version}",
        "metadata": list_meta or {},
        "columnDefinitions": [
            {
                "name": name,
                "type": kind,
                "format": "name" if name == "Name" and index == 0 else "",
                "description": name,
                "priority": priority,
            }
            for index, (name, kind, _, priority) in enumerate(cols)
        ],
        "rows": [_row(obj, cols, include) for obj in items],
    }
