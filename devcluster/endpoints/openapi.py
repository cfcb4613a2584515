"""OpenAPI v3 documents: the ``/openapi/v3`` index and one document per group-version.

Schemas are never hand-written: built-in ones are kubernetes-validate's
``$defs`` converted back to OpenAPI form (``type: [x, "null"]`` → ``type: x``,
``#/$defs/`` → ``#/components/schemas/``, a ``$ref`` with siblings wrapped in
``allOf`` as the API server publishes it), custom ones the CRD's
``openAPIV3Schema`` with ``metadata`` pointing at ObjectMeta. Every PATCH
operation carries ``x-kubernetes-group-version-kind`` and the
``fieldValidation`` parameter: kubectl and Helm read those to decide how to
apply (without them they fall back to ``/openapi/v2``).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
from typing import Any

from devcluster.apiextensions import crds
from devcluster.schemas import resources, schemas

_REF = "#/components/schemas/"
_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
# Definitions every document carries (request and response bodies of all paths).
COMMON = (
    _META + "DeleteOptions",
    _META + "Status",
    _META + "Patch",
    _META + "ListMeta",
    _META + "ObjectMeta",
    _META + "WatchEvent",
)
PATCH_TYPES = (  # as kube-apiserver lists them
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)
SMP = "application/strategic-merge-patch+json"


def patch_types(res: resources.Resource) -> tuple[str, ...]:
    """The PATCH media types the server takes for ``res``, as its OpenAPI operations list them.

    Custom resources have no strategic merge patch (the handler answers 415),
    and kube-apiserver leaves it out of their operations: kubectl's client-side
    apply reads exactly this list to choose between a strategic and a JSON
    merge patch, so listing it would make ``kubectl apply`` send what is refused.
    """
    if res.crd is not None:
        return tuple(kind for kind in PATCH_TYPES if kind != SMP)
    return PATCH_TYPES


def _convert(node: Any, refs: set[str]) -> Any:
    """One schema node in OpenAPI form; ``refs`` collects the definitions it names."""
    if isinstance(node, list):
        return [_convert(item, refs) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref":
            continue
        if key == "type" and isinstance(value, list):
            kept = [t for t in value if t != "null"]
            if len(kept) == 1:
                out["type"] = kept[0]
            continue
        if key == "properties" and isinstance(value, dict):
            # Keys here are field names (JSONSchemaProps has one called "$ref").
            out[key] = {name: _convert(child, refs) for name, child in value.items()}
            continue
        out[key] = _convert(value, refs) if key not in ("enum", "default", "example") else value
    if isinstance(node.get("$ref"), str):
        name = schemas.ref_name(node["$ref"])
        refs.add(name)
        target = {"$ref": _REF + name}
        if not out:
            return target
        return {"allOf": [target], **out}
    return out


def custom_schema_name(res: resources.Resource) -> str:
    """A CRD kind's definition name, as the API server forms it: ``com.example.v1.Widget``."""
    reversed_group = ".".join(reversed(res.group.split(".")))
    return f"{reversed_group}.{res.version}.{res.kind}"


def _custom_schema(res: resources.Resource) -> dict[str, Any]:
    assert res.crd is not None
    schema: dict[str, Any] = copy.deepcopy(crds.version_schema(res.crd, res.version))
    properties = schema.setdefault("properties", {})
    properties["apiVersion"] = {
        "type": "string",
        "description": "APIVersion defines the versioned schema of this representation of an "
        "object.",
    }
    properties["kind"] = {
        "type": "string",
        "description": "Kind is a string value representing the REST resource this object "
        "represents.",
    }
    properties["metadata"] = {
        "allOf": [{"$ref": _REF + _META + "ObjectMeta"}],
        "description": "Standard object's metadata.",
    }
    schema["x-kubernetes-group-version-kind"] = [
        {"group": res.group, "version": res.version, "kind": res.kind}
    ]
    return schema


@dataclasses.dataclass(frozen=True)
class Parameter:
    """An operation parameter of the served API, in either OpenAPI version.

    One table serves both documents: ``v3()`` renders it for ``/openapi/v3``
    (type under ``schema``), ``v2()`` for ``/openapi/v2`` (Swagger 2.0: type
    inline, ``required`` only when true), as kube-apiserver writes them.
    """

    name: str
    where: str
    description: str
    kind: str = "string"
    required: bool = False

    def v3(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "in": self.where,
            "description": self.description,
            "required": self.required,
            "schema": {"type": self.kind, "uniqueItems": True},
        }

    def v2(self) -> dict[str, Any]:
        param: dict[str, Any] = {
            "name": self.name,
            "in": self.where,
            "description": self.description,
            "type": self.kind,
            "uniqueItems": True,
        }
        if self.required:
            param["required"] = True
        return param


DRY_RUN = Parameter(
    "dryRun", "query", "When present, indicates that modifications should not be persisted."
)
FIELD_MANAGER = Parameter(
    "fieldManager",
    "query",
    "fieldManager is a name associated with the actor or entity that is making these changes.",
)
FIELD_VALIDATION = Parameter(
    "fieldValidation",
    "query",
    "fieldValidation instructs the server on how to handle objects in the request "
    "(POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: Ignore, Warn, "
    "Strict.",
)
FORCE = Parameter("force", "query", 'Force is going to "force" Apply requests.', kind="boolean")
NAMESPACE = Parameter("namespace", "path", "object name and auth scope", required=True)
LIST_PARAMETERS = tuple(
    Parameter(name, "query", name, kind=kind)
    for name, kind in (
        ("allowWatchBookmarks", "boolean"),
        ("continue", "string"),
        ("fieldSelector", "string"),
        ("labelSelector", "string"),
        ("limit", "integer"),
        ("resourceVersion", "string"),
        ("resourceVersionMatch", "string"),
        ("sendInitialEvents", "boolean"),
        ("timeoutSeconds", "integer"),
        ("watch", "boolean"),
    )
)


def name_parameter(res: resources.Resource) -> Parameter:
    return Parameter("name", "path", f"name of the {res.kind}", required=True)


_DRY_RUN = DRY_RUN.v3()
_FIELD_MANAGER = FIELD_MANAGER.v3()
_FIELD_VALIDATION = FIELD_VALIDATION.v3()
_FORCE = FORCE.v3()
_LIST_PARAMS = [param.v3() for param in LIST_PARAMETERS]


def _operation(
    res: resources.Resource,
    action: str,
    verb: str,
    schema_ref: str,
    *,
    params: list[dict[str, Any]],
    body: bool,
) -> dict[str, Any]:
    group_name = "".join(
        part.capitalize() for part in (res.group or "core").split(".")[0].split("-")
    )
    scope = "Namespaced" if res.namespaced else ""
    op: dict[str, Any] = {
        "tags": [f"{(res.group or 'core').split('.')[0]}_{res.version}"],
        "operationId": f"{action}{group_name}{res.version.capitalize()}{scope}{res.kind}",
        "parameters": params,
        "responses": {
            "200": {
                "description": "OK",
                "content": {"application/json": {"schema": {"$ref": _REF + schema_ref}}},
            },
            "401": {"description": "Unauthorized"},
        },
        "x-kubernetes-action": verb,
        "x-kubernetes-group-version-kind": {
            "group": res.group,
            "version": res.version,
            "kind": res.kind,
        },
    }
    if body:
        types = patch_types(res) if verb == "patch" else ("application/json", "application/yaml")
        target = _META + "Patch" if verb == "patch" else schema_ref
        op["requestBody"] = {
            "content": {t: {"schema": {"$ref": _REF + target}} for t in types},
            "required": True,
        }
    return op


def _paths(res: resources.Resource, schema_name: str) -> dict[str, Any]:
    base = f"/apis/{res.group}/{res.version}" if res.group else "/api/v1"
    prefix = (
        f"{base}/namespaces/{{namespace}}/{res.plural}"
        if res.namespaced
        else f"{base}/{res.plural}"
    )
    list_name = schema_name + "List"
    common = [name_parameter(res).v3()]
    if res.namespaced:
        common.append(NAMESPACE.v3())
    collection_common = common[1:]
    writes = [_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION]
    verbs = set(res.verbs)
    # Only the operations of the verbs served: a create-only review has its POST alone.
    collection: dict[str, Any] = {}
    if "list" in verbs:
        collection["get"] = _operation(
            res, "list", "list", list_name, params=_LIST_PARAMS, body=False
        )
    if "create" in verbs:
        collection["post"] = _operation(
            res, "create", "post", schema_name, params=writes, body=True
        )
    if "deletecollection" in verbs:
        collection["delete"] = _operation(
            res,
            "deletecollection",
            "deletecollection",
            _META + "Status",
            params=[_DRY_RUN],
            body=False,
        )
    item: dict[str, Any] = {}
    if "get" in verbs:
        item["get"] = _operation(res, "read", "get", schema_name, params=[], body=False)
    if "update" in verbs:
        item["put"] = _operation(res, "replace", "put", schema_name, params=writes, body=True)
    if "patch" in verbs:
        item["patch"] = _operation(
            res, "patch", "patch", schema_name, params=[*writes, _FORCE], body=True
        )
    if "delete" in verbs:
        item["delete"] = _operation(
            res, "delete", "delete", _META + "Status", params=[_DRY_RUN], body=False
        )
    paths: dict[str, Any] = {}
    if collection:
        paths[prefix] = {"parameters": collection_common, **collection}
    if item:
        paths[f"{prefix}/{{name}}"] = {"parameters": common, **item}
    if res.has_status:
        paths[f"{prefix}/{{name}}/status"] = {
            "parameters": common,
            "get": _operation(res, "read", "get", schema_name, params=[], body=False),
            "put": _operation(res, "replace", "put", schema_name, params=writes, body=True),
            "patch": _operation(
                res, "patch", "patch", schema_name, params=[*writes, _FORCE], body=True
            ),
        }
    return paths


def document(registry: resources.Registry, group: str, version: str) -> dict[str, Any] | None:
    served = registry.in_group_version(group, version)
    if not served:
        return None
    roots = list(COMMON)
    custom: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    for res in sorted(served, key=lambda r: r.plural):
        if res.definition is not None:
            name = res.definition
            roots.append(name)
            list_def = schemas.definition_for(res.group, res.version, res.list_kind)
            if list_def:
                roots.append(list_def)
        else:
            name = custom_schema_name(res)
            custom[name] = _custom_schema(res)
            custom[name + "List"] = {
                "type": "object",
                "required": ["items"],
                "properties": {
                    "apiVersion": {"type": "string"},
                    "kind": {"type": "string"},
                    "metadata": {"allOf": [{"$ref": _REF + _META + "ListMeta"}]},
                    "items": {"type": "array", "items": {"$ref": _REF + name}},
                },
                "x-kubernetes-group-version-kind": [
                    {"group": res.group, "version": res.version, "kind": res.list_kind}
                ],
            }
        paths.update(_paths(res, name))
    components = schemas.closure(roots, _convert)
    components.update(custom)
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.37.1"},
        "paths": paths,
        "components": {"schemas": components},
    }


def index(registry: resources.Registry, hashes: dict[str, str]) -> dict[str, Any]:
    """``/openapi/v3``: path → serverRelativeURL with the document's hash."""
    paths: dict[str, Any] = {}
    for group, versions in registry.group_versions().items():
        for version in versions:
            key = f"apis/{group}/{version}" if group else "api/v1"
            url = f"/openapi/v3/{key}"
            digest = hashes.get(key)
            paths[key] = {"serverRelativeURL": f"{url}?hash={digest}" if digest else url}
    return {"paths": paths}


def digest(body: bytes) -> str:
    return hashlib.sha512(body).hexdigest()[:64].upper()
