"""Custom objects against their CRD's structural schema: prune, default, validate.

The order is the API server's: unknown fields are reported per
``fieldValidation`` and pruned (kept under
``x-kubernetes-preserve-unknown-fields``) and so are nulls of non-nullable
fields, defaults are filled where a field is absent and its parent present,
then the object is validated. Every
violation becomes one cause of a 422 Invalid, with the API server's wording
(``spec.size: Invalid value: "big": spec.size in body must be of type
integer: "big"``). ``apiVersion``, ``kind`` and ``metadata`` are the server's
and pass untouched (metadata may only restrict name and generateName).
"""

from __future__ import annotations

import json
import re
from typing import Any

from devcluster.apiextensions import celrules
from devcluster.machinery import errors, objects
from devcluster.schemas import validation

Obj = dict[str, Any]
Cause = tuple[str, str, str]
_ROOT_KEEP = ("apiVersion", "kind", "metadata")


def prune(value: Any, schema: Obj, path: str, unknown: list[str]) -> Any:
    if (
        schema.get("x-kubernetes-preserve-unknown-fields")
        and "properties" not in schema
        and "additionalProperties" not in schema
    ):
        return value
    if isinstance(value, dict):
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            return {
                k: prune(v, extra, f"{path}.{k}" if path else k, unknown) for k, v in value.items()
            }
        if extra is True:
            return value
        properties = properties or {}
        kept: Obj = {}
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if not path and key in _ROOT_KEEP:
                kept[key] = item
            elif key in properties:
                if item is None and not properties[key].get("nullable"):
                    continue  # nulls of non-nullable fields are pruned (then defaulted)
                kept[key] = prune(item, properties[key], where, unknown)
            elif schema.get("x-kubernetes-preserve-unknown-fields"):
                kept[key] = item
            else:
                unknown.append(where)
        return kept
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [
            prune(item, schema["items"], f"{path}[{i}]", unknown) for i, item in enumerate(value)
        ]
    return value


def default(value: Any, schema: Obj) -> Any:
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        result = dict(value)
        for key, child in properties.items():
            if key not in result and "default" in child:
                result[key] = objects.clone(child["default"])
            if key in result:
                result[key] = default(result[key], child)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key in list(result):
                if key not in properties:
                    result[key] = default(result[key], extra)
        return result
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [default(item, schema["items"]) for item in value]
    return value


def _quote(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return json.dumps(value)


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _type_matches(value: Any, wanted: str) -> bool:
    actual = _type_name(value)
    if wanted == "number":
        return actual in ("integer", "number")
    if wanted == "integer" and isinstance(value, float):
        return value.is_integer()
    return actual == wanted


def check(
    value: Any, schema: Obj, path: str, causes: list[Cause], old: Any = celrules.ABSENT
) -> None:
    """Append every violation of ``schema`` by ``value`` at ``path``.

    ``old`` is the node's value before this update (``celrules.ABSENT`` on a
    create or for a node without one): transition rules see it as ``oldSelf``.
    It follows the value down through object properties and the items of
    ``x-kubernetes-list-type: map`` lists (matched by their keys), the only
    places where the API server can correlate old and new.

    Validation ratchets, as in the API server since 1.33: a correlated node
    whose value is unchanged is not validated again, so an object stored
    before a schema tightened can still be updated elsewhere.
    """
    if old is not celrules.ABSENT and old == value:
        return
    shown = path or "<root>"
    if value is None:
        if not schema.get("nullable") and schema.get("type"):
            causes.append(
                (
                    "FieldValueTypeInvalid",
                    shown,
                    f'Invalid value: "null": {shown} in body must be of type {schema["type"]}: '
                    '"null"',
                )
            )
        return
    if schema.get("x-kubernetes-int-or-string"):
        if not isinstance(value, int | str) or isinstance(value, bool):
            causes.append(
                (
                    "FieldValueTypeInvalid",
                    shown,
                    f"Invalid value: {_quote(value)}: {shown} in body must be of type integer "
                    f"or string: {_quote(value)}",
                )
            )
            return
    elif schema.get("type") and not _type_matches(value, schema["type"]):
        causes.append(
            (
                "FieldValueTypeInvalid",
                shown,
                f'Invalid value: "{_type_name(value)}": {shown} in body must be of type '
                f'{schema["type"]}: "{_type_name(value)}"',
            )
        )
        return
    enum = schema.get("enum")
    if enum is not None and value not in enum:
        supported = ", ".join(_quote(v) for v in enum)
        causes.append(
            (
                "FieldValueNotSupported",
                shown,
                f"Unsupported value: {_quote(value)}: supported values: {supported}",
            )
        )
    _check_bounds(value, schema, shown, causes)
    _check_rules(value, schema, shown, causes, old)
    if isinstance(value, dict):
        for key in schema.get("required") or ():
            if key not in value:
                where = f"{path}.{key}" if path else key
                causes.append(("FieldValueRequired", where, "Required value"))
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if not path and key in _ROOT_KEEP:
                continue
            where = f"{path}.{key}" if path else key
            previous = old.get(key, celrules.ABSENT) if isinstance(old, dict) else celrules.ABSENT
            if key in properties:
                check(item, properties[key], where, causes, previous)
            elif isinstance(extra, dict):
                check(item, extra, where, causes, previous)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        previous_items = _correlated_items(value, schema, old)
        for index, item in enumerate(value):
            check(item, schema["items"], f"{path}[{index}]", causes, previous_items[index])
        _check_list_uniqueness(value, schema, shown, causes)
    for sub in schema.get("allOf") or ():
        check(value, sub, path, causes)
    if schema.get("anyOf") and not any(_passes(value, sub, path) for sub in schema["anyOf"]):
        causes.append(
            (
                "FieldValueInvalid",
                shown,
                f"Invalid value: {_quote(value)}: {shown} in body must match at least one "
                "schema in anyOf",
            )
        )
    if schema.get("oneOf"):
        matching = sum(1 for sub in schema["oneOf"] if _passes(value, sub, path))
        if matching != 1:
            causes.append(
                (
                    "FieldValueInvalid",
                    shown,
                    f"Invalid value: {_quote(value)}: {shown} in body must match exactly one "
                    "schema in oneOf",
                )
            )
    if isinstance(schema.get("not"), dict) and _passes(value, schema["not"], path):
        causes.append(
            (
                "FieldValueInvalid",
                shown,
                f"Invalid value: {_quote(value)}: {shown} in body must not match the schema in not",
            )
        )


def _correlated_items(value: list[Any], schema: Obj, old: Any) -> list[Any]:
    """Each item's previous value: by list-map keys, else none (atomic and set lists)."""
    keys = schema.get("x-kubernetes-list-map-keys") or []
    if schema.get("x-kubernetes-list-type") != "map" or not keys or not isinstance(old, list):
        return [celrules.ABSENT] * len(value)
    before = {tuple(item.get(k) for k in keys): item for item in old if isinstance(item, dict)}
    return [
        before.get(tuple(item.get(k) for k in keys), celrules.ABSENT)
        if isinstance(item, dict)
        else celrules.ABSENT
        for item in value
    ]


def _check_rules(
    value: Any, schema: Obj, shown: str, causes: list[Cause], old: Any = celrules.ABSENT
) -> None:
    """``x-kubernetes-validations`` (CEL) of a node, transition rules with ``old``."""
    for entry in schema.get("x-kubernetes-validations") or ():
        rule = entry.get("rule")
        if not isinstance(rule, str):
            continue
        optional = bool(entry.get("optionalOldSelf"))
        if not celrules.applies(rule, optional_old_self=optional, old=old):
            continue
        message = entry.get("message") or f"failed rule: {rule}"
        try:
            holds = celrules.evaluate(rule, value, old=old, optional_old_self=optional)
        except celrules.RuleError as error:
            causes.append(("FieldValueInvalid", shown, f"Invalid value: {message}: {error}"))
            continue
        if not holds:
            causes.append(
                ("FieldValueInvalid", shown, f'Invalid value: "{_type_name(value)}": {message}')
            )


def _passes(value: Any, schema: Obj, path: str) -> bool:
    found: list[Cause] = []
    check(value, schema, path, found)
    return not found


def _check_bounds(value: Any, schema: Obj, shown: str, causes: list[Cause]) -> None:
    def bad(message: str) -> None:
        causes.append(
            (
                "FieldValueInvalid",
                shown,
                f"Invalid value: {_quote(value)}: {shown} in body {message}",
            )
        )

    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema:
            if schema.get("exclusiveMinimum") and value <= schema["minimum"]:
                bad(f"should be greater than {schema['minimum']}")
            elif value < schema["minimum"]:
                bad(f"should be greater than or equal to {schema['minimum']}")
        if "maximum" in schema:
            if schema.get("exclusiveMaximum") and value >= schema["maximum"]:
                bad(f"should be less than {schema['maximum']}")
            elif value > schema["maximum"]:
                bad(f"should be less than or equal to {schema['maximum']}")
        if schema.get("multipleOf") and value % schema["multipleOf"] != 0:
            bad(f"should be a multiple of {schema['multipleOf']}")
    if isinstance(value, str):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            causes.append(
                (
                    "FieldValueTooLong",
                    shown,
                    f"Too long: may not be more than {schema['maxLength']} bytes",
                )
            )
        if "minLength" in schema and len(value) < schema["minLength"]:
            bad(f"should be at least {schema['minLength']} chars long")
        if "pattern" in schema and re.search(schema["pattern"], value) is None:
            bad(f"should match '{schema['pattern']}'")
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            causes.append(
                (
                    "FieldValueTooMany",
                    shown,
                    f"Too many: {len(value)}: must have at most {schema['maxItems']} items",
                )
            )
        if "minItems" in schema and len(value) < schema["minItems"]:
            bad(f"should have at least {schema['minItems']} items")
    if isinstance(value, dict):
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            causes.append(
                (
                    "FieldValueTooMany",
                    shown,
                    f"Too many: {len(value)}: must have at most {schema['maxProperties']} items",
                )
            )
        if "minProperties" in schema and len(value) < schema["minProperties"]:
            bad(f"should have at least {schema['minProperties']} properties")


def _check_list_uniqueness(value: list[Any], schema: Obj, shown: str, causes: list[Cause]) -> None:
    kind = schema.get("x-kubernetes-list-type")
    if kind == "set":
        seen: list[Any] = []
        for index, item in enumerate(value):
            if item in seen:
                causes.append(
                    ("FieldValueDuplicate", f"{shown}[{index}]", f"Duplicate value: {_quote(item)}")
                )
            seen.append(item)
    elif kind == "map":
        keys = schema.get("x-kubernetes-list-map-keys") or []
        seen_keys: list[Any] = []
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                continue
            key = {k: item.get(k) for k in keys}
            if key in seen_keys:
                causes.append(
                    ("FieldValueDuplicate", f"{shown}[{index}]", f"Duplicate value: {_quote(key)}")
                )
            seen_keys.append(key)


def admit(
    obj: Obj,
    schema: Obj,
    *,
    group: str,
    kind: str,
    field_validation: str,
    warnings: list[str],
    old: Obj | None = None,
) -> Obj:
    """The stored form of ``obj``: pruned, defaulted and valid (else ApiError).

    ``old`` is the stored object an update replaces (``None`` on create); its
    values are ``oldSelf`` of transition rules.
    """
    unknown: list[str] = []
    pruned = prune(obj, schema, "", unknown)
    validation.report_unknown(unknown, field_validation=field_validation, warnings=warnings)
    defaulted = default(pruned, schema)
    causes: list[Cause] = []
    check(defaulted, schema, "", causes, celrules.ABSENT if old is None else old)
    if causes:
        name = (obj.get("metadata") or {}).get("name", "")
        raise errors.invalid(group, kind, name, causes)
    result: Obj = defaulted
    return result
