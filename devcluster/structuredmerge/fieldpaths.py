"""Field paths, field sets and the ``FieldsV1`` JSON encoding of managedFields.

A *path* is a tuple of elements, each one of:

- ``Field(name)`` — a struct field or map key (``f:<name>``);
- ``Key(((name, value), ...))`` — an associative-list item, its key fields
  sorted by name (``k:<compact JSON object>``);
- ``Value(scalar)`` — an item of a set-list (``v:<compact JSON scalar>``);
- ``Index(i)`` — an item of an atomic-list position (``i:<int>``), only ever
  seen when decoding.

A ``FieldSet`` is an immutable set of paths (its *members*); ancestors of a
member are implied, not stored. ``encode``/``decode`` convert between a set and
the nested-object ``fieldsV1`` form exactly as structured-merge-diff writes it
(sibling order, ``".":{}`` for a member that also has children, Go-style
compact JSON for keys). ``path_string`` renders a path the way conflict
messages do (``.spec.containers[name="web"].ports[containerPort=80,protocol="TCP"]``).

Pure data, no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

Scalar = str | int | float | bool | None


# NB: path elements are NamedTuples, not dataclasses: sets of paths are hashed
# constantly and tuple hashing stays in C. The constant ``kind`` tag keeps
# ``Field("x")`` and ``Value("x")`` distinct.


class Field(NamedTuple):
    """A struct field or a map key."""

    name: str
    kind: str = "f"


class Key(NamedTuple):
    """An item of an associative list, named by its key fields (sorted by name)."""

    fields: tuple[tuple[str, Scalar], ...]
    kind: str = "k"


class Value(NamedTuple):
    """An item of a set-list, named by its (scalar) value."""

    value: Scalar
    kind: str = "v"


class Index(NamedTuple):
    """An item of a list by position (only produced when decoding ``i:`` keys)."""

    position: int
    kind: str = "i"


PathElement = Field | Key | Value | Index
Path = tuple[PathElement, ...]


class FieldSet:
    """An immutable set of paths; ancestors of members are implied."""

    __slots__ = ("members",)

    members: frozenset[Path]

    def __init__(self, members: Iterable[Path] = ()) -> None:
        self.members = members if isinstance(members, frozenset) else frozenset(members)

    def __iter__(self) -> Iterator[Path]:
        return iter(self.members)

    def __len__(self) -> int:
        return len(self.members)

    def __contains__(self, path: object) -> bool:
        return path in self.members

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FieldSet) and self.members == other.members

    def __hash__(self) -> int:
        return hash(self.members)

    def __bool__(self) -> bool:
        return bool(self.members)

    def __repr__(self) -> str:
        return f"FieldSet({sorted(path_string(p) for p in self.members)!r})"

    def union(self, other: FieldSet) -> FieldSet:
        """Members of either set."""
        return FieldSet(self.members | other.members)

    def recursive_difference(self, other: FieldSet) -> FieldSet:
        """Members that are neither in ``other`` nor below a member of ``other``."""
        if not other.members:
            return self
        return FieldSet(p for p in self.members if not other.has_prefix_of(p))

    def has_prefix_of(self, path: Path) -> bool:
        """Whether ``path`` or one of its ancestors is a member."""
        members = self.members
        return any(path[:i] in members for i in range(1, len(path) + 1))

    def has_descendant_of(self, path: Path) -> bool:
        """Whether a member lies strictly below ``path``."""
        n = len(path)
        return any(len(p) > n and p[:n] == path for p in self.members)


EMPTY = FieldSet()

# Sort ranks of path element kinds and of JSON value types (structured-merge-diff order).
_KIND_RANK = {Field: 0, Key: 1, Value: 2, Index: 3}


def _value_rank(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool):
        return (2, value)
    if isinstance(value, int | float):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    if isinstance(value, list):
        return (3, _compact(value))
    if isinstance(value, dict):
        return (4, _compact(value))
    return (5, 0)


def _element_sort_key(element: PathElement) -> tuple[Any, ...]:
    if isinstance(element, Field):
        return (0, element.name)
    if isinstance(element, Key):
        return (
            1,
            len(element.fields),
            tuple((name, _value_rank(v)) for name, v in element.fields),
        )
    if isinstance(element, Value):
        return (2, _value_rank(element.value))
    return (3, element.position)


def _compact(value: Any) -> str:
    """Go encoding/json style: compact, HTML-escaped, non-ASCII kept."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def element_key(element: PathElement) -> str:
    """The ``fieldsV1`` key of one element (``f:``, ``k:``, ``v:``, ``i:``)."""
    if isinstance(element, Field):
        return "f:" + element.name
    if isinstance(element, Key):
        return "k:" + _compact(dict(element.fields))
    if isinstance(element, Value):
        return "v:" + _compact(element.value)
    return f"i:{element.position}"


def trie(paths: Iterable[Path]) -> dict[PathElement, list[Any]]:
    """``paths`` as a tree: element → ``[is_member, children]`` (``children`` the same form)."""
    root: dict[PathElement, list[Any]] = {}
    for path in paths:
        level = root
        for depth, element in enumerate(path):
            node = level.get(element)
            if node is None:
                node = level[element] = [False, {}]
            if depth == len(path) - 1:
                node[0] = True
            level = node[1]
    return root


def encode(fields: FieldSet) -> dict[str, Any]:
    """Return the ``fieldsV1`` object for ``fields`` (sorted as structured-merge-diff sorts)."""
    return _emit(trie(fields.members))


def _emit(level: dict[PathElement, list[Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for element in sorted(level, key=_element_sort_key):
        is_member, children = level[element]
        body: dict[str, Any] = {}
        if children:
            if is_member:
                body["."] = {}
            body.update(_emit(children))
        out[element_key(element)] = body
    return out


def decode(fields_v1: object) -> FieldSet:
    """Parse a ``fieldsV1`` object; unknown key prefixes are dropped, bad JSON raises ValueError."""
    if not isinstance(fields_v1, dict):
        raise ValueError("fieldsV1 must be a JSON object")
    members: list[Path] = []
    _collect(fields_v1, (), members)
    return FieldSet(members)


def _collect(node: dict[str, Any], prefix: Path, out: list[Path]) -> None:
    for raw, child in node.items():
        if raw == ".":
            if prefix:
                out.append(prefix)
            continue
        element = parse_element(raw)
        if element is None:
            continue
        path = (*prefix, element)
        if not isinstance(child, dict):
            raise ValueError(f"fieldsV1 entry {raw!r} must be an object")
        if child:
            _collect(child, path, out)
        else:
            out.append(path)


def parse_element(raw: str) -> PathElement | None:
    """Parse one ``fieldsV1`` key; ``None`` for an unknown prefix."""
    prefix, _, rest = raw.partition(":")
    if prefix == "f":
        return Field(rest)
    if prefix == "k":
        try:
            key = json.loads(rest)
        except json.JSONDecodeError as err:
            raise ValueError(f"invalid key {raw!r}") from err
        if not isinstance(key, dict):
            raise ValueError(f"invalid key {raw!r}")
        return Key(tuple(sorted((str(k), _hashable(v)) for k, v in key.items())))
    if prefix == "v":
        try:
            return Value(_hashable(json.loads(rest)))
        except json.JSONDecodeError as err:
            raise ValueError(f"invalid value {raw!r}") from err
    if prefix == "i":
        try:
            return Index(int(rest))
        except ValueError as err:
            raise ValueError(f"invalid index {raw!r}") from err
    return None


def _hashable(value: Any) -> Scalar:
    """Scalars as they are; a (rare) composite key value as its compact JSON text."""
    if isinstance(value, dict | list):
        return _compact(value)
    return value  # type: ignore[no-any-return]


def make_key(fields: Iterable[tuple[str, Any]]) -> Key:
    """A ``Key`` element from (name, value) pairs in any order."""
    return Key(tuple(sorted((name, _hashable(v)) for name, v in fields)))


def _go_quote(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return _compact(value)


def path_string(path: Path) -> str:
    """Render ``path`` as conflict messages do, e.g. ``.data.k`` or ``.spec.ports[port=80]``."""
    parts: list[str] = []
    for element in path:
        if isinstance(element, Field):
            parts.append("." + element.name)
        elif isinstance(element, Key):
            inner = ",".join(f"{name}={_go_quote(v)}" for name, v in element.fields)
            parts.append(f"[{inner}]")
        elif isinstance(element, Value):
            parts.append(f"[={_go_quote(element.value)}]")
        else:
            parts.append(f"[{element.position}]")
    return "".join(parts)
