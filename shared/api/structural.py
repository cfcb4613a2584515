"""Checks that a CRD schema is *structural*, as the Kubernetes API server requires.

The rules (apiextensions.k8s.io/v1, "Specifying a structural schema"):

1. every node states a non-empty ``type`` — except where
   ``x-kubernetes-int-or-string: true`` or
   ``x-kubernetes-preserve-unknown-fields: true`` stands in for it;
2. inside ``allOf``/``anyOf``/``oneOf``/``not`` there is no ``description``,
   ``type``, ``default``, ``additionalProperties`` or ``nullable``, and every
   field named there is also specified outside them — except the one pattern
   kubebuilder writes for IntOrString fields: ``x-kubernetes-int-or-string:
   true`` beside ``anyOf: [{type: integer}, {type: string}]``;
3. ``metadata`` at the root may restrict only ``name`` and ``generateName``;
4. forbidden keywords: ``$ref``, ``definitions``, ``dependencies``,
   ``patternProperties``, ``additionalItems``, ``uniqueItems: true``, ``id``,
   ``$schema``; ``properties`` and ``additionalProperties`` are exclusive;
   ``items`` is one schema;
5. defaults are well-typed for their node; list-map lists name their keys.

``check_schema`` returns the violations (empty when structural) so the
devcluster can report them all; ``check_crd`` raises on the first CRD with any.
"""

from __future__ import annotations

from typing import Any

_FORBIDDEN = ("$ref", "definitions", "dependencies", "patternProperties", "additionalItems")
_JUNCTORS = ("allOf", "anyOf", "oneOf", "not")
_NOT_IN_JUNCTORS = ("description", "type", "default", "additionalProperties", "nullable")
_TYPES = {"object", "array", "string", "integer", "number", "boolean"}
_INT_OR_STRING_ANY_OF = [{"type": "integer"}, {"type": "string"}]


class NotStructuralError(ValueError):
    """A CRD schema breaks the structural-schema rules."""


def check_crd(crd: dict[str, Any]) -> None:
    """Raise ``NotStructuralError`` listing every violation in every version of ``crd``."""
    problems: list[str] = []
    for version in crd["spec"]["versions"]:
        schema = version.get("schema", {}).get("openAPIV3Schema")
        if schema is None:
            problems.append(f"{version['name']}: no openAPIV3Schema")
            continue
        problems.extend(f"{version['name']}: {p}" for p in check_schema(schema))
    if problems:
        name = crd.get("metadata", {}).get("name", "?")
        raise NotStructuralError(f"{name} is not structural: " + "; ".join(problems))


def check_schema(schema: dict[str, Any]) -> list[str]:
    """Every structural-schema violation in ``schema`` (an ``openAPIV3Schema``)."""
    problems: list[str] = []
    if schema.get("type") != "object":
        problems.append("the root must have type object")
    metadata = schema.get("properties", {}).get("metadata")
    if metadata is not None:
        problems.extend(_check_metadata(metadata))
    _check_node(schema, "", problems)
    return problems


def _check_metadata(metadata: dict[str, Any]) -> list[str]:
    problems = []
    if metadata.get("type") != "object":
        problems.append(".metadata must have type object")
    for name in metadata.get("properties", {}):
        if name not in ("name", "generateName"):
            problems.append(f".metadata.{name}: only name and generateName may be restricted")
    return problems


def _check_node(node: Any, path: str, problems: list[str]) -> None:
    where = path or "<root>"
    if not isinstance(node, dict):
        problems.append(f"{where}: a schema must be an object")
        return
    for key in _FORBIDDEN:
        if key in node:
            problems.append(f"{where}: {key} is not allowed")
    if node.get("uniqueItems") is True:
        problems.append(f"{where}: uniqueItems: true is not allowed")
    type_ = node.get("type")
    exempt = node.get("x-kubernetes-int-or-string") is True or (
        node.get("x-kubernetes-preserve-unknown-fields") is True
    )
    if type_ is None and not exempt:
        problems.append(f"{where}: type must be set")
    elif type_ is not None and type_ not in _TYPES:
        problems.append(f"{where}: unknown type {type_!r}")
    if "properties" in node and "additionalProperties" in node:
        problems.append(f"{where}: properties and additionalProperties are mutually exclusive")
    if "properties" in node and type_ not in (None, "object"):
        problems.append(f"{where}: properties on a node of type {type_}")
    if "default" in node:
        _check_default(node, where, problems)
    _check_list_type(node, where, problems)
    for junctor in _JUNCTORS:
        if junctor in node and not _int_or_string_pattern(node, junctor):
            _check_junctor(node, junctor, where, problems)
    for name, child in node.get("properties", {}).items():
        _check_node(child, f"{path}.{name}", problems)
    items = node.get("items")
    if items is not None:
        if isinstance(items, list):
            problems.append(f"{where}: items must be a single schema")
        else:
            _check_node(items, f"{path}[*]", problems)
    additional = node.get("additionalProperties")
    if isinstance(additional, dict):
        _check_node(additional, f"{path}[*]", problems)


def _check_default(node: dict[str, Any], where: str, problems: list[str]) -> None:
    default = node["default"]
    python_types: dict[str, tuple[type, ...]] = {
        "object": (dict,),
        "array": (list,),
        "string": (str,),
        "integer": (int,),
        "number": (int, float),
        "boolean": (bool,),
    }
    type_ = node.get("type")
    if type_ in python_types:
        ok = isinstance(default, python_types[type_])
        if type_ in ("integer", "number") and isinstance(default, bool):
            ok = False
        if not ok:
            problems.append(f"{where}: default {default!r} is not of type {type_}")
    enum = node.get("enum")
    if enum is not None and default not in enum:
        problems.append(f"{where}: default {default!r} is not one of the enum {enum!r}")


def _check_list_type(node: dict[str, Any], where: str, problems: list[str]) -> None:
    list_type = node.get("x-kubernetes-list-type")
    if list_type is None:
        return
    if node.get("type") != "array":
        problems.append(f"{where}: x-kubernetes-list-type on a non-array")
    if list_type not in ("atomic", "set", "map"):
        problems.append(f"{where}: unknown x-kubernetes-list-type {list_type!r}")
    keys = node.get("x-kubernetes-list-map-keys")
    if list_type == "map":
        if not keys:
            problems.append(f"{where}: a list of type map needs x-kubernetes-list-map-keys")
        else:
            item = node.get("items", {})
            required = set(item.get("required", ()))
            for key in keys:
                field = item.get("properties", {}).get(key)
                if field is None:
                    problems.append(f"{where}: list-map key {key!r} is not a property")
                elif key not in required and "default" not in field:
                    problems.append(f"{where}: list-map key {key!r} must be required or defaulted")
    elif keys:
        problems.append(f"{where}: x-kubernetes-list-map-keys needs x-kubernetes-list-type map")


def _int_or_string_pattern(node: dict[str, Any], junctor: str) -> bool:
    return (
        junctor == "anyOf"
        and node.get("x-kubernetes-int-or-string") is True
        and node["anyOf"] == _INT_OR_STRING_ANY_OF
    )


def _check_junctor(node: dict[str, Any], junctor: str, where: str, problems: list[str]) -> None:
    branches = node[junctor]
    branches = [branches] if junctor == "not" else branches
    declared = set(node.get("properties", {}))
    for branch in branches:
        if not isinstance(branch, dict):
            problems.append(f"{where}: {junctor} must hold schemas")
            continue
        for key in _NOT_IN_JUNCTORS:
            if key in branch:
                problems.append(f"{where}: {key} is not allowed inside {junctor}")
        for name in branch.get("properties", {}):
            if name not in declared:
                problems.append(
                    f"{where}: {junctor} names {name!r}, which is not specified outside"
                )
