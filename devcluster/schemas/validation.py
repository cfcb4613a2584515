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

from devcluster.machinery import errors
from devcluster.schemas import resources, schemas

# Go's zero values of scalar types: a JSON null decoded into a map value or a
# slice element of that type becomes one (``labels: {a: null}`` stores "").
_ZERO: dict[str, Any] = {"string": "", "integer": 0, "number": 0, "boolean": False}
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


def _zero_for_null(node: dict[str, Any]) -> tuple[bool, Any]:
    """(whether a null in ``node``'s place becomes a zero value, that value)."""
    _, allowed = _compiled(node)
    if len(allowed) == 1:
        (only,) = allowed
        if only in _ZERO:
            return True, _ZERO[only]
    return False, None


def _allowed(node: dict[str, Any]) -> set[str]:
    found = schemas.types_of(node)
    for alternative in node.get("oneOf", ()) or ():
        found |= schemas.types_of(alternative)
    return found


# Memo of (resolved node, allowed types) per schema node. Schema nodes come from
# the process-wide, never-mutated definitions, so their ids are stable keys.
_COMPILED: dict[int, tuple[dict[str, Any], set[str]]] = {}


def _compiled(node: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    found = _COMPILED.get(id(node))
    if found is None:
        resolved = schemas.resolve(node)
        found = _COMPILED[id(node)] = (resolved, _allowed(resolved))
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


# A path as a cons list ((parent, step) or None), rendered only when reported.
Path = tuple[Any, str] | None


def render(path: Path) -> str:
    parts: list[str] = []
    while path is not None:
        path, step = path
        parts.append(step)
    text = ""
    for step in reversed(parts):
        text += step if step.startswith("[") or not text else "." + step
    return text


def walk(
    value: Any,
    node: dict[str, Any],
    path: Path,
    *,
    unknown: list[str],
    wrong: list[str],
) -> Any:
    """Check ``value`` against ``node``; return it with unknown fields removed.

    Returns ``value`` itself when nothing was removed (the common case), so a
    valid object is checked without being copied.
    """
    node, allowed = _compiled(node)
    if value is None or not allowed:
        pass
    elif not _type_ok(value, allowed):
        wanted = "/".join(sorted(allowed))
        wrong.append(f"{render(path) or '.'}: expected {wanted}, got {_describe(value)}")
        return value
    if isinstance(value, dict):
        properties = node.get("properties")
        if isinstance(properties, dict):
            preserve = node.get("x-kubernetes-preserve-unknown-fields")
            changed: dict[str, Any] | None = None
            for key, item in value.items():
                child = properties.get(key)
                if item is None and child is not None:
                    # A null decodes to Go's zero value, which JSON omits.
                    changed = changed if changed is not None else dict(value)
                    del changed[key]
                    continue
                if child is None:
                    if not preserve:
                        unknown.append(render((path, key)))
                        changed = changed if changed is not None else dict(value)
                        del changed[key]
                    continue
                checked = walk(item, child, (path, key), unknown=unknown, wrong=wrong)
                if checked is not item:
                    changed = changed if changed is not None else dict(value)
                    changed[key] = checked
            return value if changed is None else changed
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            changed = None
            zeroed, zero = _zero_for_null(extra)
            for key, item in value.items():
                if item is None and zeroed:
                    changed = changed if changed is not None else dict(value)
                    changed[key] = zero
                    continue
                checked = walk(item, extra, (path, f"[{key}]"), unknown=unknown, wrong=wrong)
                if checked is not item:
                    changed = changed if changed is not None else dict(value)
                    changed[key] = checked
            return value if changed is None else changed
        return value
    if isinstance(value, list):
        items = node.get("items")
        if isinstance(items, dict):
            result: list[Any] | None = None
            zeroed, zero = _zero_for_null(items)
            for index, item in enumerate(value):
                if item is None and zeroed:
                    result = result if result is not None else list(value)
                    result[index] = zero
                    continue
                checked = walk(item, items, (path, f"[{index}]"), unknown=unknown, wrong=wrong)
                if checked is not item:
                    result = result if result is not None else list(value)
                    result[index] = checked
            return value if result is None else result
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
    cleaned = walk(obj, schemas.definitions()[res.definition], None, unknown=unknown, wrong=wrong)
    if wrong:
        name = (obj.get("metadata") or {}).get("name", "")
        raise errors.bad_request(
            f'{res.kind} in version "{res.version}" cannot be handled as a {res.kind}: '
            + "; ".join(wrong)
            + (f' (object "{name}")' if name else "")
        )
    report_unknown(unknown, field_validation=field_validation, warnings=warnings)
    return dict(cleaned)


def leaves_valid(
    res: resources.Resource, obj: dict[str, Any], leaves: list[tuple[str | int, ...]]
) -> bool:
    """Whether ``check_builtin`` would accept ``obj`` as it is, given that it accepted the
    same object with other scalars at ``leaves`` (JSON paths) and left it unchanged.

    Only the scalars at ``leaves`` are checked, as ``walk`` checks them. False
    means "not sure" (a wrong type, a path the schema does not describe): the
    caller then runs ``check_builtin`` for the exact error.
    """
    if res.definition is None:
        return True
    root = schemas.definitions()[res.definition]
    return all(_leaf_valid(obj, root, leaf) for leaf in leaves)


def _leaf_valid(value: Any, node: dict[str, Any], leaf: tuple[str | int, ...]) -> bool:
    for step in leaf:
        node, _ = _compiled(node)
        if isinstance(value, dict):
            if not isinstance(step, str) or step not in value:
                return False
            properties = node.get("properties")
            extra = node.get("additionalProperties")
            if isinstance(properties, dict):
                child = properties.get(step)
                if child is None:
                    # Unknown: walk keeps it only where unknown fields are preserved.
                    return bool(node.get("x-kubernetes-preserve-unknown-fields"))
            elif isinstance(extra, dict):
                child = extra
            else:
                return True  # walk does not look inside
        elif isinstance(value, list):
            items = node.get("items")
            if not isinstance(step, int) or not 0 <= step < len(value):
                return False
            if not isinstance(items, dict):
                return True  # walk does not look inside
            child = items
        else:
            return False
        node, value = child, value[step]
    _, allowed = _compiled(node)
    if value is None or isinstance(value, dict | list):
        return False
    return not allowed or _type_ok(value, allowed)
