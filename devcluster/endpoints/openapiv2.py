"""The OpenAPI v2 (Swagger 2.0) document served at ``/openapi/v2``.

kubectl still reads it: client-side validation (``kubectl apply|create -f``
of a ``kind: List``, whose GVK has no PATCH operation in the v3 documents),
the fieldValidation/dryRun support check when v3 has no answer, and
``kubectl explain --output=plaintext-openapiv2``. It comes from the same
sources as the v3 documents (``openapi``), never hand-written schemas:

- built-in definitions: kubernetes-validate's ``$defs`` of every served
  kind and list kind plus what they reference, in Swagger 2.0 form —
  ``type: [x, "null"]`` → ``type: x``; ``#/$defs/`` → ``#/definitions/``; a
  ``$ref`` keeps only its ``description`` and ``x-…`` siblings (kube-openapi's
  reader refuses a typed reference); a ``oneOf`` of primitive types (v2 has
  no unions: IntOrString, Quantity) becomes ``type: string``, with ``format:
  int-or-string`` for integer-or-string, as the API server publishes them;
- CRD definitions: each served version's ``openAPIV3Schema`` converted the
  way the API server converts structural schemas for v2 (junctors ``allOf``/
  ``anyOf``/``oneOf``/``not`` dropped; ``nullable`` drops ``type``, ``items``
  and ``properties`` and the field's ``required`` entry;
  ``x-kubernetes-preserve-unknown-fields`` drops ``items`` and
  ``properties``; an array left without ``items`` loses its ``type``; keys
  Swagger 2.0 lacks are dropped), with ``apiVersion``/``kind``/``metadata``
  and ``x-kubernetes-group-version-kind``, plus its ``…List`` definition;
- paths of every served resource and verb, each operation with
  ``x-kubernetes-action`` and ``x-kubernetes-group-version-kind`` and the
  ``dryRun``/``fieldManager``/``fieldValidation``/``force`` query parameters
  the API server declares.

``document(registry)`` is pure; callers cache it (it is large) and rebuild
when the served resources change. ``gnostic.encode`` gives its protobuf form.
"""

from __future__ import annotations

import copy
from typing import Any

from devcluster.apiextensions import crds
from devcluster.endpoints import gnostic, openapi
from devcluster.schemas import resources, schemas

_REF = "#/definitions/"
_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
_PRIMITIVES = {"string", "integer", "number", "boolean"}
# Keys of a Swagger 2.0 schema a CRD schema keeps (junctors are dropped for v2).
_CRD_KEYS = frozenset(gnostic.MESSAGES["Schema"]) - {"$ref", "allOf"}
_PRODUCES = ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"]
_WATCH_PRODUCES = [
    *_PRODUCES,
    "application/json;stream=watch",
    "application/vnd.kubernetes.protobuf;stream=watch",
]

# --- definitions -------------------------------------------------------------


def _builtin(node: Any, refs: set[str]) -> Any:
    """One kubernetes-validate schema node in Swagger 2.0 form; collects referenced names."""
    if isinstance(node, list):
        return [_builtin(item, refs) for item in node]
    if not isinstance(node, dict):
        return node
    if isinstance(node.get("$ref"), str):
        name = schemas.ref_name(node["$ref"])
        refs.add(name)
        kept = {k: v for k, v in node.items() if k == "description" or k.startswith("x-")}
        return {"$ref": _REF + name, **kept}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "type" and isinstance(value, list):
            kept_types = [t for t in value if t != "null"]
            if len(kept_types) == 1:
                out["type"] = kept_types[0]
        elif key == "properties" and isinstance(value, dict):
            # Keys here are field names (JSONSchemaProps has one called "$ref").
            out[key] = {name: _builtin(child, refs) for name, child in value.items()}
        elif key == "oneOf":
            out.update(_primitive_union(value))
        elif key in ("enum", "default", "example") or key.startswith("x-"):
            out[key] = value
        else:
            out[key] = _builtin(value, refs)
    return out


def _primitive_union(alternatives: list[Any]) -> dict[str, Any]:
    """What v2 says for a ``oneOf`` of primitive types: a string (kubectl's v2
    validation lets a string-typed field hold any primitive)."""
    found: set[str] = set()
    for alternative in alternatives:
        found |= schemas.types_of(alternative) if isinstance(alternative, dict) else {"?"}
    if not found or not found <= _PRIMITIVES:
        raise ValueError(f"a oneOf over {sorted(found)} has no OpenAPI v2 form")
    if found == {"integer", "string"}:
        return {"type": "string", "format": "int-or-string"}
    return {"type": "string"}


def structural_v2(node: dict[str, Any]) -> dict[str, Any]:
    """A CRD's structural (v3) schema as the API server publishes it in v2."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: structural_v2(child) for name, child in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = structural_v2(value)
        elif key.startswith("x-") or key in _CRD_KEYS:
            out[key] = copy.deepcopy(value)
    if node.get("nullable") is True:
        for key in ("type", "items", "properties"):
            out.pop(key, None)
    if node.get("x-kubernetes-preserve-unknown-fields") is True:
        out.pop("items", None)
        out.pop("properties", None)
    if out.get("type") == "array" and "items" not in out:
        out.pop("type")
    required = out.get("required")
    if isinstance(required, list):
        children = node.get("properties") or {}
        kept = [f for f in required if (children.get(f) or {}).get("nullable") is not True]
        additional = node.get("additionalProperties")
        if isinstance(additional, dict) and additional.get("nullable") is True:
            kept = []
        if kept:
            out["required"] = kept
        else:
            out.pop("required")
    return out


def _gvk(res: resources.Resource, kind: str) -> list[dict[str, str]]:
    return [{"group": res.group, "version": res.version, "kind": kind}]


def _custom_definitions(res: resources.Resource, name: str) -> dict[str, Any]:
    assert res.crd is not None
    schema = structural_v2(crds.version_schema(res.crd, res.version))
    properties = schema.setdefault("properties", {})
    properties["apiVersion"] = {
        "description": "APIVersion defines the versioned schema of this representation of an "
        "object.",
        "type": "string",
    }
    properties["kind"] = {
        "description": "Kind is a string value representing the REST resource this object "
        "represents.",
        "type": "string",
    }
    properties["metadata"] = {
        "$ref": _REF + _META + "ObjectMeta",
        "description": "Standard object's metadata.",
    }
    schema["x-kubernetes-group-version-kind"] = _gvk(res, res.kind)
    listing = {
        "description": f"{res.kind}List is a list of {res.kind}",
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": properties["apiVersion"],
            "items": {"type": "array", "items": {"$ref": _REF + name}},
            "kind": properties["kind"],
            "metadata": {"$ref": _REF + _META + "ListMeta"},
        },
        "x-kubernetes-group-version-kind": _gvk(res, res.list_kind),
    }
    return {name: schema, name + "List": listing}


# --- paths -------------------------------------------------------------------


_DRY_RUN = openapi.DRY_RUN.v2()
_FIELD_MANAGER = openapi.FIELD_MANAGER.v2()
_FIELD_VALIDATION = openapi.FIELD_VALIDATION.v2()
_FORCE = openapi.FORCE.v2()
_PRETTY = openapi.Parameter("pretty", "query", "If 'true', then the output is pretty printed.").v2()
_LIST_PARAMS = [param.v2() for param in openapi.LIST_PARAMETERS]
_DELETE_PARAMS = [
    _DRY_RUN,
    openapi.Parameter(
        "gracePeriodSeconds", "query", "The duration in seconds before deletion.", kind="integer"
    ).v2(),
    openapi.Parameter(
        "propagationPolicy", "query", "Whether and how garbage collection will be performed."
    ).v2(),
]


def _body(schema_name: str) -> dict[str, Any]:
    return {"name": "body", "in": "body", "required": True, "schema": {"$ref": _REF + schema_name}}


def _operation(
    res: resources.Resource,
    *,
    action: str,
    verb: str,
    returns: str,
    params: list[dict[str, Any]],
    consumes: list[str] | None = None,
    produces: list[str] = _PRODUCES,
) -> dict[str, Any]:
    group_name = "".join(
        part.capitalize() for part in (res.group or "core").split(".")[0].split("-")
    )
    scope = "Namespaced" if res.namespaced else ""
    op: dict[str, Any] = {
        "description": f"{action} {res.kind}",
        "consumes": consumes or ["*/*"],
        "produces": produces,
        "schemes": ["https"],
        "tags": [f"{(res.group or 'core').split('.')[0]}_{res.version}"],
        "operationId": f"{action}{group_name}{res.version.capitalize()}{scope}{res.kind}",
        "parameters": params,
        "responses": {
            "200": {"description": "OK", "schema": {"$ref": _REF + returns}},
            "401": {"description": "Unauthorized"},
        },
        "x-kubernetes-action": verb,
        "x-kubernetes-group-version-kind": {
            "group": res.group,
            "version": res.version,
            "kind": res.kind,
        },
    }
    return op


def _paths(res: resources.Resource, name: str, list_name: str | None) -> dict[str, Any]:
    base = f"/apis/{res.group}/{res.version}" if res.group else "/api/v1"
    prefix = (
        f"{base}/namespaces/{{namespace}}/{res.plural}"
        if res.namespaced
        else f"{base}/{res.plural}"
    )
    scope = [openapi.NAMESPACE.v2()] if res.namespaced else []
    item_params = [openapi.name_parameter(res).v2(), *scope]
    writes = [_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION]
    verbs = set(res.verbs)
    collection: dict[str, Any] = {}
    if "list" in verbs and list_name is not None:
        collection["get"] = _operation(
            res,
            action="list",
            verb="list",
            returns=list_name,
            params=_LIST_PARAMS,
            produces=_WATCH_PRODUCES,
        )
    if "create" in verbs:
        collection["post"] = _operation(
            res, action="create", verb="post", returns=name, params=[_body(name), *writes]
        )
    if "deletecollection" in verbs:
        collection["delete"] = _operation(
            res,
            action="deletecollection",
            verb="deletecollection",
            returns=_META + "Status",
            params=[_body(_META + "DeleteOptions"), *_DELETE_PARAMS, *_LIST_PARAMS],
        )
    item: dict[str, Any] = {}
    if "get" in verbs:
        item["get"] = _operation(res, action="read", verb="get", returns=name, params=[])
    if "update" in verbs:
        item["put"] = _operation(
            res, action="replace", verb="put", returns=name, params=[_body(name), *writes]
        )
    if "patch" in verbs:
        item["patch"] = _operation(
            res,
            action="patch",
            verb="patch",
            returns=name,
            params=[_body(_META + "Patch"), *writes, _FORCE],
            consumes=list(openapi.patch_types(res)),
        )
    if "delete" in verbs:
        item["delete"] = _operation(
            res,
            action="delete",
            verb="delete",
            returns=_META + "Status",
            params=[_body(_META + "DeleteOptions"), *_DELETE_PARAMS],
        )
    paths: dict[str, Any] = {}
    if collection:
        paths[prefix] = {**collection, "parameters": [*scope, _PRETTY]}
    if item:
        paths[f"{prefix}/{{name}}"] = {**item, "parameters": [*item_params, _PRETTY]}
    if res.has_status and item:
        status = {verb: dict(op) for verb, op in item.items() if verb in ("get", "put", "patch")}
        for op in status.values():
            op["operationId"] = op["operationId"] + "Status"
        paths[f"{prefix}/{{name}}/status"] = {**status, "parameters": [*item_params, _PRETTY]}
    return paths


# --- the document ------------------------------------------------------------


def document(registry: resources.Registry) -> dict[str, Any]:
    """The Swagger 2.0 document of every resource ``registry`` serves."""
    roots = list(openapi.COMMON)
    custom: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    for res in registry.all():
        list_name: str | None
        if res.definition is not None:
            name = res.definition
            roots.append(name)
            list_name = schemas.definition_for(res.group, res.version, res.list_kind)
            if list_name is not None:
                roots.append(list_name)
        else:
            name = openapi.custom_schema_name(res)
            list_name = name + "List"
            custom.update(_custom_definitions(res, name))
        paths.update(_paths(res, name, list_name))
    definitions = schemas.closure(roots, _builtin)
    definitions.update(custom)
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.37.1"},
        "paths": dict(sorted(paths.items())),
        "definitions": dict(sorted(definitions.items())),
    }


# --- content negotiation -----------------------------------------------------

JSON = "application/json"
# NB: client-go asks for "…spec.v2@v1.0+protobuf", but "@" is not valid in a
# media type and Go's mime parser rejects it in a Content-Type, so the answer
# names the dotted spelling, as the API server does.
PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
_PROTOBUF_SUBTYPES = (
    "com.github.proto-openapi.spec.v2@v1.0+protobuf",
    "com.github.proto-openapi.spec.v2.v1.0+protobuf",
)


def negotiate(accept: str | None) -> str | None:
    """The media type to answer ``Accept`` with (``JSON`` or ``PROTOBUF``), or ``None`` (406).

    As the API server's OpenAPI handler: clauses by descending ``q`` (the more
    specific first on a tie), the first one JSON or the protobuf form matches;
    no header means ``*/*``, which is JSON.
    """
    clauses: list[tuple[float, int, int, str, str]] = []
    for position, clause in enumerate((accept or "*/*").split(",")):
        media, *params = (part.strip() for part in clause.split(";"))
        kind, _, subtype = media.lower().partition("/")
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if kind and subtype and quality > 0:
            specificity = (kind != "*") + (subtype != "*")
            clauses.append((-quality, -specificity, position, kind, subtype))
    for _, _, _, kind, subtype in sorted(clauses):
        if kind not in ("application", "*"):
            continue
        if subtype in ("json", "*"):
            return JSON
        if subtype in _PROTOBUF_SUBTYPES:
            return PROTOBUF
    return None
