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

import dataclasses
from collections.abc import Iterable, Iterator
from typing import Any

Scalar = str | int | float | bool | None


@dataclasses.dataclass(frozen=True, slots=True)
class Field:
    """A struct field or a map key."""

    name: str


@dataclasses.dataclass(frozen=True, slots=True)
class Key:
    """An item of an associative list, named by its key fields (sorted by name)."""

    fields: tuple[tuple[str, Scalar], ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Value:
    """An item of a set-list, named by its (scalar) value."""

    value: Scalar


@dataclasses.dataclass(frozen=True, slots=True)
class Index:
    """An item of a list by position (only produced when decoding ``i:`` keys)."""

    index: int


PathElement = Field | Key | Value | Index
Path = tuple[PathElement, ...]


class FieldSet:
    """An immutable set of paths; ancestors of members are implied."""

    __slots__ = ("members",)

    def __init__(self, members: Iterable[Path] = ()) -> None:
        raise NotImplementedError

    def __iter__(self) -> Iterator[Path]:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def __contains__(self, path: object) -> bool:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        raise NotImplementedError

    def __hash__(self) -> int:
        raise NotImplementedError

    def __bool__(self) -> bool:
        raise NotImplementedError

    def union(self, other: FieldSet) -> FieldSet:
        """Members of either set."""
        raise NotImplementedError

    def intersection(self, other: FieldSet) -> FieldSet:
        """Members of both sets."""
        raise NotImplementedError

    def difference(self, other: FieldSet) -> FieldSet:
        """Members of this set that are not members of ``other``."""
        raise NotImplementedError

    def recursive_difference(self, other: FieldSet) -> FieldSet:
        """Members that are neither in ``other`` nor below a member of ``other``."""
        raise NotImplementedError

    def has_prefix_of(self, path: Path) -> bool:
        """Whether ``path`` or one of its ancestors is a member."""
        raise NotImplementedError

    def has_descendant_of(self, path: Path) -> bool:
        """Whether a member lies strictly below ``path``."""
        raise NotImplementedError


EMPTY = FieldSet()


def encode(fields: FieldSet) -> dict[str, Any]:
    """Return the ``fieldsV1`` object for ``fields`` (sorted as structured-merge-diff sorts)."""
    raise NotImplementedError


def decode(fields_v1: object) -> FieldSet:
    """Parse a ``fieldsV1`` object; unknown key prefixes are dropped, bad JSON raises ValueError."""
    raise NotImplementedError


def path_string(path: Path) -> str:
    """Render ``path`` as conflict messages do, e.g. ``.data.k`` or ``.spec.ports[port=80,protocol="TCP"]``."""
    raise NotImplementedError
