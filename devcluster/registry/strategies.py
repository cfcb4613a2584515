"""Strategy rules of the API server that need no state: pure functions on objects.

- ``check_body``: fill in and check apiVersion, kind and namespace of a body;
- ``check_metadata``: name rules (per kind), label and annotation rules;
- ``create``: server-owned fields of a new object (uid, timestamps,
  generation, no status where status is a subresource, Namespace defaults);
- ``update``: what a write may not change — server-owned metadata copied from
  the stored object, ``generation`` bumped when anything but metadata (and
  status, where it is a subresource) changed, the main resource ignoring
  status and ``/status`` (or ``/finalize``) ignoring everything else;
- ``check_immutable``: fields fixed at creation (workload selectors, Job
  templates, StatefulSet specs, immutable ConfigMaps/Secrets, Service
  cluster IPs) give 422 "field is immutable" on change, which is what tools
  like Flux's ``force`` recreation react to.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from devcluster.machinery import errors, objects
from devcluster.schemas import resources

Obj = dict[str, Any]


def check_body(res: resources.Resource, body: Obj, namespace: str) -> Obj:
    """Fill in and check apiVersion, kind and namespace of a request body."""
    if not isinstance(body, dict):
        raise errors.bad_request("the body of the request must be a JSON object")
    body = dict(body)
    api_version = body.setdefault("apiVersion", res.group_version)
    kind = body.setdefault("kind", res.kind)
    if api_version != res.group_version:
        raise errors.bad_request(
            f"the API version in the data ({api_version}) does not match the expected API"
            f" version ({res.group_version})"
        )
    if kind != res.kind:
        raise errors.bad_request(
            f"the kind in the data ({kind}) does not match the expected kind ({res.kind})"
        )
    metadata = body.get("metadata")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise errors.bad_request("metadata must be an object")
    metadata = dict(metadata)
    if res.namespaced:
        given = metadata.get("namespace")
        if given and given != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on"
                " the request"
            )
        metadata["namespace"] = namespace
    else:
        metadata.pop("namespace", None)
    body["metadata"] = metadata
    return body


def check_metadata(res: resources.Resource, obj: Obj) -> None:
    """422 for a missing or invalid name, or invalid labels/annotations."""
    name = objects.meta(obj).get("name")
    if not isinstance(name, str) or not name:
        raise errors.invalid(
            res.group,
            res.kind,
            "",
            [
                (
                    "FieldValueRequired",
                    "metadata.name",
                    "Required value: name or generateName is required",
                )
            ],
        )
    causes = [
        ("FieldValueInvalid", "metadata.name", f'Invalid value: "{name}": {problem}')
        for problem in objects.validate_name(name, plural=res.plural)
    ]
    causes.extend(objects.validate_metadata(objects.meta(obj)))
    if causes:
        raise errors.invalid(res.group, res.kind, name, causes)


def create(res: resources.Resource, new: Obj) -> Obj:
    """Server-owned fields of ``new`` (changed in place) as it is created."""
    metadata = new["metadata"]
    name = metadata.get("name")
    for field in (
        "uid",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "resourceVersion",
    ):
        metadata.pop(field, None)
    metadata["uid"] = str(uuid.uuid4())
    metadata["creationTimestamp"] = objects.timestamp()
    if res.crd is not None or "spec" in new:
        metadata["generation"] = 1
    if res.has_status and res.key != "/namespaces":
        new.pop("status", None)
    if res.key == "/namespaces":
        new["spec"] = {"finalizers": ["kubernetes"]}
        new["status"] = {"phase": "Active"}
        metadata["labels"] = {
            **(metadata.get("labels") or {}),
            "kubernetes.io/metadata.name": name,
        }
    return new


def update(res: resources.Resource, old: Obj, new: Obj, *, subresource: str) -> Obj:
    """Copy server-owned fields from ``old`` and bump ``generation`` as the API server does."""
    old_meta = objects.meta(old)
    if subresource in ("status", "finalize"):
        kept = objects.clone(old)
        if subresource == "status":
            if "status" in new:
                kept["status"] = new["status"]
            else:
                kept.pop("status", None)
        else:
            kept.setdefault("spec", {})["finalizers"] = (new.get("spec") or {}).get(
                "finalizers"
            ) or []
        fields = new["metadata"].get("managedFields")
        if fields is not None:
            kept["metadata"]["managedFields"] = fields
        return kept
    new = dict(new)
    metadata = dict(new["metadata"])
    for field in (
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ):
        if field in old_meta:
            metadata[field] = old_meta[field]
        else:
            metadata.pop(field, None)
    metadata["resourceVersion"] = old_meta.get("resourceVersion")
    if "generation" in old_meta:
        metadata["generation"] = old_meta["generation"]
        changed = objects.spec_part(new, with_status=not res.has_status)
        if changed != objects.spec_part(old, with_status=not res.has_status):
            metadata["generation"] = int(old_meta["generation"]) + 1
    else:
        metadata.pop("generation", None)
    if res.key == "/namespaces":
        new["spec"] = old.get("spec", {})
    if res.has_status:
        if "status" in old:
            new["status"] = old["status"]
        else:
            new.pop("status", None)
    new["metadata"] = metadata
    return new


_SELECTOR_IMMUTABLE = (
    "apps/deployments",
    "apps/replicasets",
    "apps/statefulsets",
    "apps/daemonsets",
)
# StatefulSet spec fields an update may change; the rest are fixed at creation.
_STATEFULSET_MUTABLE = {
    "replicas",
    "template",
    "updateStrategy",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
    "ordinals",
    "revisionHistoryLimit",
}


def _go_value(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def check_immutable(res: resources.Resource, old: Obj, new: Obj) -> None:
    """422 when an update changes a field the API server fixes after creation."""
    causes = immutable_causes(res, old, new)
    if causes:
        name = objects.meta(new).get("name", "")
        raise errors.invalid(res.group, res.kind, str(name), causes)


def immutable_causes(res: resources.Resource, old: Obj, new: Obj) -> list[tuple[str, str, str]]:
    """The field errors of ``check_immutable`` (none when the update may proceed)."""
    causes: list[tuple[str, str, str]] = []
    old_spec = old.get("spec") or {}
    new_spec = new.get("spec") or {}

    def fixed(field: str, path: str) -> None:
        if field in old_spec and old_spec.get(field) != new_spec.get(field):
            shown = _go_value(new_spec.get(field))
            causes.append(
                ("FieldValueInvalid", path, f"Invalid value: {shown}: field is immutable")
            )

    if res.key in _SELECTOR_IMMUTABLE:
        fixed("selector", "spec.selector")
    if res.key == "apps/statefulsets":
        changed = sorted(
            key
            for key in set(old_spec) | set(new_spec)
            if key not in _STATEFULSET_MUTABLE and old_spec.get(key) != new_spec.get(key)
        )
        if changed:
            allowed = "', '".join(sorted(_STATEFULSET_MUTABLE))
            causes.append(
                (
                    "FieldValueForbidden",
                    "spec",
                    f"Forbidden: updates to statefulset spec for fields other than '{allowed}'"
                    " are forbidden",
                )
            )
    if res.key == "batch/jobs":
        fixed("selector", "spec.selector")
        fixed("template", "spec.template")
        fixed("completions", "spec.completions")
    if res.key in ("/configmaps", "/secrets") and old.get("immutable") is True:
        for field in ("data", "binaryData", "stringData"):
            if old.get(field) != new.get(field):
                causes.append(
                    (
                        "FieldValueForbidden",
                        field,
                        "Forbidden: field is immutable when `immutable` is set",
                    )
                )
        if new.get("immutable") is not True:
            causes.append(
                (
                    "FieldValueForbidden",
                    "immutable",
                    "Forbidden: field is immutable when `immutable` is set",
                )
            )
    if res.key == "/services":
        before, after = old_spec.get("clusterIP"), new_spec.get("clusterIP")
        if before and after and before != after:
            causes.append(
                (
                    "FieldValueInvalid",
                    "spec.clusterIPs[0]",
                    f'Invalid value: ["{after}"]: may not change once set',
                )
            )
    if res.key == "/secrets" and old.get("type") != new.get("type"):
        causes.append(
            ("FieldValueInvalid", "type", f'Invalid value: "{new.get("type")}": field is immutable')
        )
    return causes
