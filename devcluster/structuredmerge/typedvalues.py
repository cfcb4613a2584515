"""Schema-typed operations on JSON values that server-side apply is built from.

The building blocks of server-side apply, each walking a value alongside its
``typeinfo`` node:

- ``field_set`` (FS) — the set of fields a value sets;
- ``compare`` — Added / Modified / Removed paths between two values;
- ``merge`` — an applied configuration over the live object, incl. the
  associative-list ordering of structured-merge-diff;
- ``remove_items`` (RI) — drop every entry or item named by a set;
- ``ensure_named_fields`` (EN) — a set plus the struct-field ancestors of
  its members, so removals never take a struct that still holds owned fields.

Pure functions; values are never mutated (results share unchanged subtrees
with their inputs, so callers must not mutate results in place either).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from devcluster.structuredmerge import fieldpaths, typeinfo

Path = fieldpaths.Path
PathSet = set[Path]

_MISSING = object()
_UNTYPED = typeinfo.Untyped({})


class TypedValueError(ValueError):
    """A value does not fit its schema (unknown field, duplicate or missing list keys)."""


@dataclasses.dataclass
class Comparison:
    """Paths Added, Modified and Removed between two values."""

    added: PathSet = dataclasses.field(default_factory=set)
    modified: PathSet = dataclasses.field(default_factory=set)
    removed: PathSet = dataclasses.field(default_factory=set)

    def changed(self) -> PathSet:
        """Added or Modified paths (what an applier or updater takes over)."""
        return self.added | self.modified


def _granular(node: typeinfo.Node, value: Any) -> str:
    """How a value of ``node`` is walked: "struct", "map", "set", "list", or "" (a leaf)."""
    if isinstance(node, typeinfo.Struct):
        return "" if node.atomic or not isinstance(value, dict) else "struct"
    if isinstance(node, typeinfo.MapType):
        return "" if node.atomic or not isinstance(value, dict) else "map"
    if isinstance(node, typeinfo.ListType):
        if node.kind == "atomic" or not isinstance(value, list):
            return ""
        return "set" if node.kind == "set" else "list"
    if isinstance(node, typeinfo.Untyped) and isinstance(value, dict):
        return "map"
    return ""


def _child_node(
    node: typeinfo.Node, kind: str, name: str, *, strict: bool, path: Path
) -> tuple[typeinfo.Node, bool]:
    """The node of a struct field or map entry, and whether it is a declared struct field."""
    if kind == "struct":
        assert isinstance(node, typeinfo.Struct)
        child = node.field(name)
        if child is not None:
            return child, True
        if strict and not node.preserve_unknown:
            where = fieldpaths.path_string((*path, fieldpaths.Field(name)))
            raise TypedValueError(f"{where}: field not declared in schema")
        return _UNTYPED, False
    if isinstance(node, typeinfo.MapType):
        return node.values, False
    return _UNTYPED, False


def item_key(item: Any, node: typeinfo.ListType) -> fieldpaths.Key | None:
    """The key element of an associative-list item, or ``None`` when it has no key field."""
    if not isinstance(item, dict):
        return None
    pairs: list[tuple[str, Any]] = []
    defaults = node.key_defaults
    for key in node.keys:
        if key in item and item[key] is not None:
            pairs.append((key, item[key]))
        elif key in defaults:
            pairs.append((key, defaults[key]))
    if not pairs:
        return None
    return fieldpaths.make_key(pairs)


def _value_element(item: Any) -> fieldpaths.Value:
    return fieldpaths.Value(fieldpaths._hashable(item))


def _list_elements(
    items: list[Any], node: typeinfo.ListType, kind: str, *, strict: bool, path: Path
) -> list[fieldpaths.PathElement]:
    elements: list[fieldpaths.PathElement] = []
    for index, item in enumerate(items):
        element: fieldpaths.PathElement | None
        if kind == "set":
            element = _value_element(item)
        else:
            element = item_key(item, node)
            if element is None:
                if strict:
                    where = fieldpaths.path_string(path)
                    raise TypedValueError(
                        f"{where}: associative list with keys has an element that omits all key"
                        f" fields {list(node.keys)!r} (and doesn't have default values for any"
                        " key fields)"
                    )
                element = fieldpaths.Index(index)
        elements.append(element)
    return elements


def field_set(value: Any, node: typeinfo.Node, *, strict: bool = False) -> PathSet:
    """FS(value): every leaf, atomic node, list item and map entry the value sets.

    ``strict`` (apply configurations) raises ``TypedValueError`` on undeclared
    fields, items without key fields and duplicate keys.
    """
    out: PathSet = set()
    _field_set(value, node, (), out, strict=strict)
    return out


def _field_set(value: Any, node: typeinfo.Node, path: Path, out: PathSet, *, strict: bool) -> None:
    kind = _granular(node, value)
    if not kind:
        if path:
            out.add(path)
        return
    if kind in ("struct", "map"):
        for name, child in value.items():
            child_node, declared = _child_node(node, kind, name, strict=strict, path=path)
            child_path = (*path, fieldpaths.Field(name))
            if child is None or child == {} or not declared:
                out.add(child_path)
            _field_set(child, child_node, child_path, out, strict=strict)
        return
    assert isinstance(node, typeinfo.ListType)
    elements = _list_elements(value, node, kind, strict=strict, path=path)
    seen: dict[fieldpaths.PathElement, int] = {}
    for element in elements:
        seen[element] = seen.get(element, 0) + 1
    for element, item in zip(elements, value, strict=True):
        item_path = (*path, element)
        out.add(item_path)
        if seen[element] > 1:
            if strict:
                where = fieldpaths.path_string(item_path)
                raise TypedValueError(f"duplicate entries for key {where}")
            continue
        if kind == "list":
            _field_set(item, node.items, item_path, out, strict=strict)


def _all_paths(value: Any, node: typeinfo.Node, path: Path, out: PathSet) -> None:
    """The path itself plus everything inside a value (a whole container added/removed)."""
    out.add(path)
    kind = _granular(node, value)
    if not kind:
        return
    inner: PathSet = set()
    _field_set(value, node, path, inner, strict=False)
    out.update(inner)


def compare(old: Any, new: Any, node: typeinfo.Node) -> Comparison:
    """Compare(old, new): use ``_MISSING``-free values; ``None`` for an absent object."""
    result = Comparison()
    _compare(old, new, node, (), result)
    result.added.discard(())
    result.removed.discard(())
    result.modified.discard(())
    return result


def _compare(old: Any, new: Any, node: typeinfo.Node, path: Path, result: Comparison) -> None:
    # Fast exit: equal subtrees (merge results share most of them with live).
    if old is new or (type(old) is type(new) and old == new):
        return
    if old is _MISSING:
        _all_paths(new, node, path, result.added)
        return
    if new is _MISSING:
        _all_paths(old, node, path, result.removed)
        return
    kind = _container_kind(node, old, new)
    if not kind or (not old and not new):
        if _differs(old, new):
            result.modified.add(path)
        return
    # NB: a null granular container compares as an empty one (structured-merge-diff).
    old = _empty_if_none(old, kind)
    new = _empty_if_none(new, kind)
    old_kind = new_kind = kind
    if old_kind in ("struct", "map"):
        for name in old.keys() | new.keys():
            child_node, _ = _child_node(node, old_kind, name, strict=False, path=path)
            _compare(
                old.get(name, _MISSING),
                new.get(name, _MISSING),
                child_node,
                (*path, fieldpaths.Field(name)),
                result,
            )
        return
    assert isinstance(node, typeinfo.ListType)
    old_items = _index_items(old, node, old_kind, path)
    new_items = _index_items(new, node, new_kind, path)
    for element in old_items.keys() | new_items.keys():
        item_path = (*path, element)
        before = old_items.get(element, _MISSING)
        after = new_items.get(element, _MISSING)
        if old_kind == "set" or before is _MISSING or after is _MISSING:
            if before is _MISSING:
                _all_paths(after, node.items, item_path, result.added)
            elif after is _MISSING:
                _all_paths(before, node.items, item_path, result.removed)
            continue
        _compare(before, after, node.items, item_path, result)


def _container_kind(node: typeinfo.Node, old: Any, new: Any) -> str:
    """The granular kind shared by ``old`` and ``new`` (either may be null), or ""."""
    old_kind = _granular(node, old) if old is not None else ""
    new_kind = _granular(node, new) if new is not None else ""
    if old is None and new is None:
        return ""
    if old is None:
        return new_kind
    if new is None:
        return old_kind
    return old_kind if old_kind == new_kind else ""


def _empty_if_none(value: Any, kind: str) -> Any:
    if value is not None:
        return value
    return {} if kind in ("struct", "map") else []


def _differs(a: Any, b: Any) -> bool:
    return a != b or isinstance(a, bool) != isinstance(b, bool)


def _index_items(
    items: list[Any], node: typeinfo.ListType, kind: str, path: Path
) -> dict[fieldpaths.PathElement, Any]:
    elements = _list_elements(items, node, kind, strict=False, path=path)
    return dict(zip(elements, items, strict=True))


def merge(live: Any, config: Any, node: typeinfo.Node) -> Any:
    """Merge(live, config): the applied configuration over the live value."""
    return _merge(live, config, node, ())


def _merge(live: Any, config: Any, node: typeinfo.Node, path: Path) -> Any:
    if live is _MISSING:
        return config
    if config is _MISSING:
        return live
    kind = _granular(node, live)
    if config is None and kind in ("struct", "map"):
        # NB: null on a granular container keeps the live contents.
        return live
    if not kind or kind != _granular(node, config):
        return config
    if not config and not live:
        return config
    if kind in ("struct", "map"):
        out = dict(live)
        for name, value in config.items():
            child_node, _ = _child_node(node, kind, name, strict=False, path=path)
            out[name] = _merge(
                live.get(name, _MISSING), value, child_node, (*path, fieldpaths.Field(name))
            )
        return out
    assert isinstance(node, typeinfo.ListType)
    return _merge_list(live, config, node, kind, path)


def _merge_list(
    live: list[Any], config: list[Any], node: typeinfo.ListType, kind: str, path: Path
) -> list[Any]:
    live_elements = _list_elements(live, node, kind, strict=False, path=path)
    config_elements = _list_elements(config, node, kind, strict=False, path=path)
    live_by = dict(zip(live_elements, live, strict=True))
    config_set = set(config_elements)
    out: list[Any] = []
    li, ri = 0, 0
    # structured-merge-diff's visitListItems order: config items keep their
    # order; live-only items stay right after their original live neighbour.
    while li < len(live) or ri < len(config):
        if li < len(live) and ri < len(config) and live_elements[li] == config_elements[ri]:
            out.append(_merge(live[li], config[ri], node.items, (*path, config_elements[ri])))
            li += 1
            ri += 1
        elif li < len(live) and live_elements[li] not in config_set:
            out.append(live[li])
            li += 1
        elif li < len(live) and ri < len(config):
            li += 1
        else:
            element = config_elements[ri]
            before = live_by.get(element, _MISSING)
            out.append(_merge(before, config[ri], node.items, (*path, element)))
            ri += 1
    return out


def remove_items(value: Any, paths: Iterable[Path], node: typeinfo.Node) -> Any:
    """RI(value, paths): drop every entry/item whose path is a member, with its subtree.

    A container emptied by the removal is dropped from its parent.
    """
    trie = fieldpaths.trie(paths)
    if not trie:
        return value
    result = _remove(value, node, trie, ())
    return {} if result is _MISSING else result


def _remove(value: Any, node: typeinfo.Node, trie: dict[Any, Any], path: Path) -> Any:
    kind = _granular(node, value)
    if not kind:
        return value
    if kind in ("struct", "map"):
        out: dict[str, Any] = {}
        touched = False
        for name, child in value.items():
            entry = trie.get(fieldpaths.Field(name))
            if entry is None:
                out[name] = child
                continue
            touched = True
            if entry[0]:
                continue
            child_node, _ = _child_node(node, kind, name, strict=False, path=path)
            kept = _remove(child, child_node, entry[1], (*path, fieldpaths.Field(name)))
            if kept is not _MISSING:
                out[name] = kept
        if touched and not out and value:
            return _MISSING
        return out if touched else value
    assert isinstance(node, typeinfo.ListType)
    elements = _list_elements(value, node, kind, strict=False, path=path)
    items: list[Any] = []
    touched = False
    for element, item in zip(elements, value, strict=True):
        entry = trie.get(element)
        if entry is None:
            items.append(item)
            continue
        touched = True
        if entry[0]:
            continue
        kept = _remove(item, node.items, entry[1], (*path, element))
        if kept is not _MISSING:
            items.append(kept)
    if touched and not items and value:
        return _MISSING
    return items if touched else value


def ensure_named_fields(paths: Iterable[Path], node: typeinfo.Node) -> PathSet:
    """EN(paths): add every ancestor whose last element is a declared struct field."""
    out: PathSet = set(paths)
    trie = fieldpaths.trie(out)
    _ensure(trie, node, (), out)
    return out


def _ensure(
    level: dict[fieldpaths.PathElement, Any], node: typeinfo.Node, prefix: Path, out: PathSet
) -> None:
    for element, (_, children) in level.items():
        if not children:
            continue
        path = (*prefix, element)
        child: typeinfo.Node
        if isinstance(element, fieldpaths.Field):
            if isinstance(node, typeinfo.Struct):
                declared = node.field(element.name)
                if declared is not None:
                    out.add(path)
                    child = declared
                else:
                    child = _UNTYPED
            elif isinstance(node, typeinfo.MapType):
                child = node.values
            else:
                child = _UNTYPED
        elif isinstance(node, typeinfo.ListType):
            child = node.items
        else:
            child = _UNTYPED
        _ensure(children, child, path, out)


def get_path(value: Any, path: Path, node: typeinfo.Node) -> Any:
    """The value at ``path`` or ``None`` when absent (used for last-applied comparisons)."""
    current = value
    current_node: typeinfo.Node = node
    for element in path:
        if isinstance(element, fieldpaths.Field):
            if not isinstance(current, dict) or element.name not in current:
                return _MISSING
            kind = _granular(current_node, current) or "map"
            current_node, _ = _child_node(current_node, kind, element.name, strict=False, path=())
            current = current[element.name]
            continue
        if not isinstance(current, list) or not isinstance(current_node, typeinfo.ListType):
            return _MISSING
        kind = _granular(current_node, current)
        found = _MISSING
        for candidate, item in zip(
            _list_elements(current, current_node, kind, strict=False, path=()),
            current,
            strict=True,
        ):
            if candidate == element:
                found = item
                break
        if found is _MISSING:
            return _MISSING
        current, current_node = found, current_node.items
    return current


MISSING = _MISSING


def granular(node: typeinfo.Node, value: Any) -> str:
    """How ``value`` of ``node`` is walked: "struct", "map", "set", "list", or "" (a leaf)."""
    return _granular(node, value)


def child_node(node: typeinfo.Node, kind: str, name: str) -> typeinfo.Node:
    """The node of field or key ``name`` of a "struct" or "map" (undeclared: untyped)."""
    return _child_node(node, kind, name, strict=False, path=())[0]


def differs(a: Any, b: Any) -> bool:
    """Whether two leaf or atomic values differ as ``compare`` sees them."""
    return _differs(a, b)
