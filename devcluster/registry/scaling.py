"""The ``/scale`` subresource of Deployments, ReplicaSets and StatefulSets.

Reads return an ``autoscaling/v1`` ``Scale`` view of the object; writes
(PUT, or any non-apply patch of that view) change only ``spec.replicas`` of
the object, as ``kubectl scale`` and autoscalers expect.
"""

from __future__ import annotations

from typing import Any

from devcluster.machinery import errors, objects
from devcluster.patching import patches

Obj = dict[str, Any]
SCALABLE = ("apps/deployments", "apps/replicasets", "apps/statefulsets")


def _selector(obj: Obj) -> str:
    match = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(match.items()))


def view(obj: Obj) -> Obj:
    metadata = obj.get("metadata") or {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: metadata[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in metadata
        },
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 1)},
        "status": {
            "replicas": (obj.get("status") or {}).get("replicas", 0),
            "selector": _selector(obj),
        },
    }


def patched_view(current: Obj, media_type: str, body: Any) -> Obj:
    scale = view(current)
    try:
        if media_type == "application/json-patch+json":
            result = patches.json_patch(scale, body)
        else:
            result = patches.merge_patch(scale, body)
    except patches.MalformedPatchError as error:
        raise errors.bad_request(str(error)) from error
    except patches.PatchApplyError as error:
        raise errors.ApiError(422, "Invalid", str(error)) from error
    if not isinstance(result, dict):
        raise errors.bad_request("the patch result is not an object")
    return result


def scaled(current: Obj, scale: Obj) -> Obj:
    """``current`` with the replicas of the ``scale`` view (422 when not a count)."""
    replicas = (scale.get("spec") or {}).get("replicas")
    name = (current.get("metadata") or {}).get("name", "")
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise errors.invalid(
            "autoscaling",
            "Scale",
            name,
            [
                (
                    "FieldValueInvalid",
                    "spec.replicas",
                    f"Invalid value: {replicas!r}: must be greater than or equal to 0",
                )
            ],
        )
    given = (scale.get("metadata") or {}).get("resourceVersion")
    updated = objects.clone(current)
    updated["spec"]["replicas"] = replicas
    if given:
        updated["metadata"]["resourceVersion"] = given
    return updated
