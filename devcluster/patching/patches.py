"""The non-apply patch types: JSON merge patch, JSON patch and strategic merge patch.

All functions are pure: they take the current object (a JSON-compatible value,
never mutated) and the decoded patch, and return a new value.

- ``merge_patch`` — RFC 7386 (``application/merge-patch+json``).
- ``json_patch`` — RFC 6902 (``application/json-patch+json``): add, remove,
  replace, move, copy, test; JSON-pointer ``~0``/``~1`` escapes; ``-`` appends.
- ``strategic_merge_patch`` — ``application/strategic-merge-patch+json`` as
  apimachinery's ``strategicpatch`` applies it, driven by ``typeinfo`` patch
  strategies and merge keys: lists with strategy ``merge`` merge by merge key
  (scalar lists as sets), other lists are replaced; directives
  ``$patch: replace|delete|merge`` (in maps and list items), ``$retainKeys``,
  ``$deleteFromPrimitiveList/<field>``, ``$setElementOrder/<field>``;
  ``null`` deletes a key. Untyped parts (CRDs) fall back to merge-patch
  semantics, as the API server does for custom resources (which reject SMP
  outright — the caller decides that; see ``strategic_merge_patch``).

Errors: ``MalformedPatchError`` for a patch that is not of the right shape
(the API server answers 400), ``PatchApplyError`` for one that cannot be
applied to this object, incl. a failed JSON-patch ``test`` (422).
"""

from __future__ import annotations

import copy
from typing import Any

from devcluster.structuredmerge import typeinfo

_PATCH = "$patch"
_RETAIN_KEYS = "$retainKeys"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"
_SET_ORDER = "$setElementOrder/"
_UNTYPED = typeinfo.Untyped({})


class PatchError(ValueError):
    """Base class of patch failures; ``str()`` is the message for the Status."""


class MalformedPatchError(PatchError):
    """The patch document itself is invalid (HTTP 400)."""


class PatchApplyError(PatchError):
    """The patch is well-formed but cannot be applied to this object (HTTP 422)."""


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 merge patch; a non-object patch replaces the target."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


# --- JSON patch (RFC 6902) -------------------------------------------------


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str):
        raise MalformedPatchError(f"invalid JSON pointer {path!r}: not a string")
    if path == "":
        return []
    if not path.startswith("/"):
        raise MalformedPatchError(f"invalid JSON pointer {path!r}: must start with '/'")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _index(token: str, length: int, *, allow_end: bool, path: str) -> int:
    if token == "-" and allow_end:
        return length
    if not token.isdigit() or (token != "0" and token.startswith("0")):
        raise PatchApplyError(f"invalid array index {token!r} in {path!r}")
    index = int(token)
    limit = length if allow_end else length - 1
    if index > limit:
        raise PatchApplyError(f"array index {index} out of bounds in {path!r}")
    return index


def _parent(doc: Any, tokens: list[str], path: str) -> Any:
    current = doc
    for token in tokens[:-1]:
        if isinstance(current, dict):
            if token not in current:
                raise PatchApplyError(f"doc is missing path: {path!r}: missing value")
            current = current[token]
        elif isinstance(current, list):
            current = current[_index(token, len(current), allow_end=False, path=path)]
        else:
            raise PatchApplyError(f"doc is missing path: {path!r}: missing value")
    return current


def _get(doc: Any, path: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return doc
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchApplyError(f"doc is missing path: {path!r}: missing value")
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(last, len(parent), allow_end=False, path=path)]
    raise PatchApplyError(f"doc is missing path: {path!r}: missing value")


def _add(doc: Any, path: str, value: Any) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return value
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(last, len(parent), allow_end=True, path=path), value)
    else:
        raise PatchApplyError(f"add operation does not apply: doc is missing path: {path!r}")
    return doc


def _remove(doc: Any, path: str) -> tuple[Any, Any]:
    tokens = _pointer(path)
    if not tokens:
        raise PatchApplyError("remove operation does not apply to the whole document")
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchApplyError(
                f"remove operation does not apply: doc is missing path: {path!r}: missing value"
            )
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(last, len(parent), allow_end=False, path=path))
    raise PatchApplyError(f"remove operation does not apply: doc is missing path: {path!r}")


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def json_patch(target: Any, operations: Any) -> Any:
    """Apply an RFC 6902 patch (a list of operation objects)."""
    if not isinstance(operations, list):
        raise MalformedPatchError("json patch must be a list of operations")
    doc = copy.deepcopy(target)
    for number, operation in enumerate(operations):
        if not isinstance(operation, dict):
            raise MalformedPatchError(f"operation {number} is not an object")
        op = operation.get("op")
        path = operation.get("path")
        if not isinstance(path, str):
            raise MalformedPatchError(f"operation {number} ({op}) is missing 'path'")
        if op in ("add", "replace", "test") and "value" not in operation:
            raise MalformedPatchError(f"operation {number} ({op}) is missing 'value'")
        value = copy.deepcopy(operation.get("value"))
        if op == "add":
            doc = _add(doc, path, value)
        elif op == "remove":
            doc, _ = _remove(doc, path)
        elif op == "replace":
            _get(doc, path)
            doc, _ = _remove(doc, path) if _pointer(path) else (doc, None)
            doc = _add(doc, path, value)
        elif op in ("move", "copy"):
            source = operation.get("from")
            if not isinstance(source, str):
                raise MalformedPatchError(f"operation {number} ({op}) is missing 'from'")
            if op == "move":
                if path.startswith(source + "/"):
                    raise PatchApplyError(f"cannot move {source!r} into its own child {path!r}")
                doc, moved = _remove(doc, source)
            else:
                moved = copy.deepcopy(_get(doc, source))
            doc = _add(doc, path, moved)
        elif op == "test":
            if not _json_equal(_get(doc, path), value):
                raise PatchApplyError(f"testing value {path} failed: test failed")
        else:
            raise MalformedPatchError(f"Unexpected kind: {op}")
    return doc


# --- strategic merge patch ---------------------------------------------------


def strategic_merge_patch(original: Any, patch: Any, *, schema: typeinfo.Node) -> Any:
    """Apply a strategic merge patch to ``original`` typed by ``schema``.

    ``schema`` is the object's top-level type (``Catalog.object_type``).
    Where the schema gives no strategy (``Untyped``, undeclared fields) maps
    merge and lists are replaced, like a JSON merge patch.
    """
    if not isinstance(patch, dict):
        raise MalformedPatchError("strategic merge patch must be a JSON object")
    base = copy.deepcopy(original) if isinstance(original, dict) else {}
    result = _merge_map(base, copy.deepcopy(patch), schema)
    return {} if result is None else result


def _field_node(node: typeinfo.Node, name: str) -> typeinfo.Node:
    if isinstance(node, typeinfo.Struct):
        return node.field(name) or _UNTYPED
    if isinstance(node, typeinfo.MapType):
        return node.values
    return _UNTYPED


def _strategies(node: typeinfo.Node) -> set[str]:
    return {s for s in node.patch_strategy.split(",") if s}


def _merge_map(original: dict[str, Any], patch: dict[str, Any], node: typeinfo.Node) -> Any:
    """Merge ``patch`` into ``original`` (mutated); ``None`` means "delete this map"."""
    directive = patch.pop(_PATCH, None)
    if directive is not None:
        if directive == "replace":
            return _strip(patch, node)
        if directive == "delete":
            return None
        if directive != "merge":
            raise MalformedPatchError(f"Unknown patch type: {directive}")
    retain = patch.pop(_RETAIN_KEYS, None)
    if retain is not None:
        if not isinstance(retain, list):
            raise MalformedPatchError(f"{_RETAIN_KEYS} must be a list")
        for key in list(original):
            if key not in retain:
                del original[key]
    orders: dict[str, list[Any]] = {}
    for key in list(patch):
        if key.startswith(_DELETE_PRIMITIVE):
            field = key[len(_DELETE_PRIMITIVE) :]
            values = patch.pop(key)
            if not isinstance(values, list):
                raise MalformedPatchError(f"{key} must be a list")
            current = original.get(field)
            if isinstance(current, list):
                original[field] = [v for v in current if v not in values]
        elif key.startswith(_SET_ORDER):
            order = patch.pop(key)
            if not isinstance(order, list):
                raise MalformedPatchError(f"{key} must be a list")
            orders[key[len(_SET_ORDER) :]] = order
    for key, value in patch.items():
        child = _field_node(node, key)
        if value is None:
            original.pop(key, None)
            continue
        if key not in original:
            stripped = _strip(value, child)
            if stripped is not None:
                original[key] = stripped
            continue
        current = original[key]
        if isinstance(value, dict) and isinstance(current, dict):
            if "replace" in _strategies(child):
                original[key] = _strip(value, child)
                continue
            merged = _merge_map(current, value, child)
            if merged is None:
                del original[key]
            else:
                original[key] = merged
        elif isinstance(value, list) and isinstance(current, list):
            original[key] = _merge_list(current, value, child)
        else:
            original[key] = _strip(value, child)
    for field, order in orders.items():
        if isinstance(original.get(field), list):
            original[field] = _apply_order(original[field], order, _field_node(node, field))
    return original


def _strip(value: Any, node: typeinfo.Node) -> Any:
    """A patch value for a key the original lacks: directives applied against nothing."""
    if isinstance(value, dict):
        return _merge_map({}, value, node)
    if isinstance(value, list):
        return _merge_list([], value, node)
    return value


def _merge_key(node: typeinfo.Node) -> tuple[bool, str | None, typeinfo.Node]:
    """Whether a list merges, its merge key and its item node."""
    if not isinstance(node, typeinfo.ListType) or "merge" not in _strategies(node):
        items = node.items if isinstance(node, typeinfo.ListType) else _UNTYPED
        return False, None, items
    return True, node.patch_merge_key, node.items


def _merge_list(original: list[Any], patch: list[Any], node: typeinfo.Node) -> list[Any]:
    merging, key, items = _merge_key(node)
    if not merging:
        for item in patch:
            if isinstance(item, dict) and item.get(_PATCH) == "replace":
                return [_strip(i, items) for i in patch if i is not item]
        return [_strip(item, items) for item in patch]
    if any(isinstance(i, dict) and i.get(_PATCH) == "replace" for i in patch):
        return [
            _strip(i, items)
            for i in patch
            if not (isinstance(i, dict) and i.get(_PATCH) == "replace")
        ]
    if key is None:
        out = list(original)
        for item in patch:
            if isinstance(item, dict):
                raise MalformedPatchError("a list of primitives cannot hold objects")
            if item not in out:
                out.append(item)
        return out
    out = list(original)
    for item in patch:
        if not isinstance(item, dict):
            raise MalformedPatchError(f"list items merged by {key!r} must be objects")
        directive = item.get(_PATCH)
        if key not in item:
            if directive is not None:
                raise MalformedPatchError(f"{_PATCH} directive item must name its {key!r}")
            raise MalformedPatchError(f"map: {item!r} does not contain declared merge key: {key}")
        match = next(
            (i for i, o in enumerate(out) if isinstance(o, dict) and o.get(key) == item[key]),
            None,
        )
        if directive == "delete":
            out = [o for o in out if not (isinstance(o, dict) and o.get(key) == item[key])]
            continue
        if match is None:
            stripped = _strip(item, items)
            if stripped is not None:
                out.append(stripped)
            continue
        merged = _merge_map(out[match], dict(item), items)
        if merged is None:
            del out[match]
        else:
            out[match] = merged
    return out


def _apply_order(values: list[Any], order: list[Any], node: typeinfo.Node) -> list[Any]:
    """``$setElementOrder``: listed items first in the listed order, the rest after."""
    _, key, _ = _merge_key(node)

    def identity(item: Any) -> Any:
        if key is not None and isinstance(item, dict):
            return item.get(key)
        return item

    wanted = [identity(o) for o in order]
    ranked = [v for w in wanted for v in values if identity(v) == w]
    rest = [v for v in values if identity(v) not in wanted]
    return ranked + rest
