"""Decoding checks of built-in objects against kubernetes-validate's schemas.

The API server decodes a body into Go structs: a value of the wrong JSON type
fails the request (400 BadRequest), and fields the struct does not declare
are reported by ``fieldValidation`` — ``Strict`` fails with 400 listing every
one (``strict decoding error: unknown field "spec.foo", …``), ``Warn`` sends
each as a ``Warning`` header, ``Ignore`` drops them silently. Unknown fields
are dropped from the stored object in every mode, as decoding into a struct
does.
"""

from __future__ import annotations

from typing import Any

from headwater.devcluster import errors, resources, schemas

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


def _type_ok(value: Any, allowed: set[str]) -> bool:
    if value is None or not allowed:
        return True
    for name in allowed:
        expected = _JSON_TYPES.get(name, ())
        if isinstance(value, bool) and name in ("integer", "number"):
            continue
        if name == "integer" and isinstance(value, float) and value.is_integer():
            return True
        if isinstance(value, expected):
            return True
    return False


def _allowed(node: dict[str, Any]) -> set[str]:
    found = schemas.types_of(node)
    for alternative in node.get("oneOf", ()) or ():
        found |= schemas.types_of(alternative)
    return found


def _describe(value: Any) -> str:
    return {
        bool: "bool",
        int: "number",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
    }.get(type(value), "value")


def walk(
    value: Any,
    node: dict[str, Any],
    path: str,
    *,
    unknown: list[str],
    wrong: list[str],
) -> Any:
    """Check ``value`` against ``node``; return it with unknown fields removed."""
    node = schemas.resolve(node)
    allowed = _allowed(node)
    if not _type_ok(value, allowed):
        wanted = "/".join(sorted(allowed))
        wrong.append(f"{path or '.'}: expected {wanted}, got {_describe(value)}")
        return value
    if isinstance(value, dict):
        properties = node.get("properties")
        extra = node.get("additionalProperties")
        if isinstance(properties, dict):
            kept: dict[str, Any] = {}
            for key, item in value.items():
                child = properties.get(key)
                where = f"{path}.{key}" if path else key
                if child is None:
                    if node.get("x-kubernetes-preserve-unknown-fields"):
                        kept[key] = item
                    else:
                        unknown.append(where)
                    continue
                kept[key] = walk(item, child, where, unknown=unknown, wrong=wrong)
            return kept
        if isinstance(extra, dict):
            return {
                key: walk(
                    item, extra, f"{path}[{key}]" if path else key, unknown=unknown, wrong=wrong
                )
                for key, item in value.items()
            }
        return value
    if isinstance(value, list):
        items = node.get("items")
        if isinstance(items, dict):
            return [
                walk(item, items, f"{path}[{index}]", unknown=unknown, wrong=wrong)
                for index, item in enumerate(value)
            ]
    return value


def report_unknown(unknown: list[str], *, field_validation: str, warnings: list[str]) -> None:
    """Act on unknown fields per ``fieldValidation`` (Strict raises 400)."""
    if not unknown:
        return
    messages = [f'unknown field "{where}"' for where in unknown]
    if field_validation == "Strict":
        raise errors.bad_request("strict decoding error: " + ", ".join(messages))
    if field_validation == "Warn":
        warnings.extend(messages)


def check_builtin(
    res: resources.Resource,
    obj: dict[str, Any],
    *,
    field_validation: str,
    warnings: list[str],
) -> dict[str, Any]:
    """Type-check ``obj`` of a built-in kind; returns it without unknown fields."""
    if res.definition is None:
        return obj
    unknown: list[str] = []
    wrong: list[str] = []
    cleaned = walk(obj, schemas.definitions()[res.definition], "", unknown=unknown, wrong=wrong)
    if wrong:
        name = (obj.get("metadata") or {}).get("name", "")
        raise errors.bad_request(
            f'{res.kind} in version "{res.version}" cannot be handled as a {res.kind}: '
            + "; ".join(wrong)
            + (f' (object "{name}")' if name else "")
        )
    report_unknown(unknown, field_validation=field_validation, warnings=warnings)
    return dict(cleaned)
