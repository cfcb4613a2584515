"""CustomResourceDefinitions: admission of the definition and what it serves.

``admit_definition`` runs on every CRD write: it defaults names, checks the
structural-schema rules of every version (``shared.api.structural``, 422
listing each violation), refuses names another CRD already serves, and sets
``status`` (``acceptedNames``, ``storedVersions`` and the ``NamesAccepted``
and ``Established`` conditions Helm waits for). ``served_resources`` turns an
accepted CRD into registry entries, one per served version; the cluster
swaps them into discovery, OpenAPI and REST routing when the CRD is stored.
Custom objects are checked by ``customs``.
"""

from __future__ import annotations

import copy
from typing import Any

from devcluster.apiextensions import customs
from devcluster.machinery import errors, objects
from devcluster.schemas import resources
from shared.api import structural

Obj = dict[str, Any]
_KIND = "CustomResourceDefinition"
_GROUP = "apiextensions.k8s.io"


def version_schema(crd: Obj, version: str) -> Obj:
    for entry in crd["spec"]["versions"]:
        if entry["name"] == version:
            schema: Obj = (entry.get("schema") or {}).get("openAPIV3Schema") or {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
            }
            return schema
    raise KeyError(version)


def version_entry(crd: Obj, version: str) -> Obj:
    for entry in crd["spec"]["versions"]:
        if entry["name"] == version:
            found: Obj = entry
            return found
    raise KeyError(version)


def served_resources(crd: Obj) -> list[resources.Resource]:
    spec = crd["spec"]
    names = spec["names"]
    found: list[resources.Resource] = []
    for entry in spec["versions"]:
        if not entry.get("served", True):
            continue
        found.append(
            resources.Resource(
                group=spec["group"],
                version=entry["name"],
                kind=names["kind"],
                plural=names["plural"],
                singular=names.get("singular") or names["kind"].lower(),
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                has_status="status" in (entry.get("subresources") or {}),
                crd=crd,
            )
        )
    return found


def is_established(crd: Obj) -> bool:
    for condition in (crd.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Established" and condition.get("status") == "True":
            return True
    return False


def with_established(crd: Obj) -> Obj:
    established = copy.deepcopy(crd)
    established["status"] = _status(established)
    return established


def _condition(kind: str, reason: str, message: str, now: str) -> Obj:
    return {
        "type": kind,
        "status": "True",
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }


def _status(crd: Obj) -> Obj:
    spec = crd["spec"]
    now = objects.timestamp()
    previous = {c.get("type"): c for c in (crd.get("status") or {}).get("conditions") or ()}
    conditions = [
        previous.get("NamesAccepted")
        or _condition("NamesAccepted", "NoConflicts", "no conflicts found", now),
        previous.get("Established")
        or _condition(
            "Established", "InitialNamesAccepted", "the initial names have been accepted", now
        ),
    ]
    stored = [v["name"] for v in spec["versions"] if v.get("storage")]
    old_stored = (crd.get("status") or {}).get("storedVersions") or []
    return {
        "conditions": conditions,
        "acceptedNames": copy.deepcopy(spec["names"]),
        "storedVersions": list(dict.fromkeys([*old_stored, *stored])),
    }


def admit_definition(crd: Obj, old: Obj | None, registry: resources.Registry) -> Obj:
    """Default, check and set status of a CRD about to be stored."""
    crd = copy.deepcopy(crd)
    name = objects.meta(crd).get("name", "")
    causes: list[tuple[str, str, str]] = []
    spec = crd.get("spec")
    if not isinstance(spec, dict):
        raise errors.invalid(
            _GROUP, _KIND, name, [("FieldValueRequired", "spec", "Required value")]
        )
    names = spec.get("names") or {}
    group = spec.get("group") or ""
    plural = names.get("plural") or ""
    kind = names.get("kind") or ""
    if not group:
        causes.append(("FieldValueRequired", "spec.group", "Required value"))
    if not plural:
        causes.append(("FieldValueRequired", "spec.names.plural", "Required value"))
    if not kind:
        causes.append(("FieldValueRequired", "spec.names.kind", "Required value"))
    if group and plural and name != f"{plural}.{group}":
        causes.append(
            (
                "FieldValueInvalid",
                "metadata.name",
                f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group',
            )
        )
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        causes.append(
            (
                "FieldValueNotSupported",
                "spec.scope",
                f'Unsupported value: "{spec.get("scope")}": supported values: "Cluster", '
                '"Namespaced"',
            )
        )
    versions = spec.get("versions")
    if not isinstance(versions, list) or not versions:
        causes.append(
            (
                "FieldValueRequired",
                "spec.versions",
                "Required value: must have exactly one version marked as storage version",
            )
        )
        versions = []
    storage_count = sum(1 for v in versions if isinstance(v, dict) and v.get("storage"))
    if versions and storage_count != 1:
        causes.append(
            (
                "FieldValueInvalid",
                "spec.versions",
                "Invalid value: []apiextensions.CustomResourceDefinitionVersion{...}: must have "
                "exactly one version marked as storage version",
            )
        )
    for index, entry in enumerate(versions):
        where = f"spec.versions[{index}].schema.openAPIV3Schema"
        schema = ((entry or {}).get("schema") or {}).get("openAPIV3Schema")
        if schema is None:
            causes.append(("FieldValueRequired", where, "Required value: schemas are required"))
            continue
        for problem in structural.check_schema(schema):
            causes.append(("FieldValueInvalid", where, f"Invalid value: {problem}"))
    if causes:
        raise errors.invalid(_GROUP, _KIND, name, causes)
    names.setdefault("singular", kind.lower())
    names.setdefault("listKind", f"{kind}List")
    spec["names"] = names
    spec.setdefault("conversion", {"strategy": "None"})
    for existing in registry.all():
        if existing.crd is None and (existing.group, existing.plural) == (group, plural):
            raise errors.invalid(
                _GROUP,
                _KIND,
                name,
                [
                    (
                        "FieldValueInvalid",
                        "spec.group",
                        "Invalid value: the group and plural are served by a built-in resource",
                    )
                ],
            )
    if old is not None and old["spec"].get("group") != group:
        raise errors.invalid(
            _GROUP,
            _KIND,
            name,
            [("FieldValueInvalid", "spec.group", "Invalid value: field is immutable")],
        )
    crd["status"] = _status({**crd, "status": (old or {}).get("status") or {}})
    return crd


def admit_custom(
    res: resources.Resource,
    obj: Obj,
    *,
    field_validation: str,
    warnings: list[str],
    old: Obj | None = None,
) -> Obj:
    """Prune, default and validate a custom object (422 listing each violation).

    ``old`` is the stored object on an update, for transition rules (``oldSelf``).
    """
    assert res.crd is not None
    return customs.admit(
        obj,
        version_schema(res.crd, res.version),
        group=res.group,
        kind=res.kind,
        field_validation=field_validation,
        warnings=warnings,
        old=old,
    )
