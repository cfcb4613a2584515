"""Schema type information for server-side apply and strategic merge patch.

Every node of an object is one of:

- ``Scalar`` — a leaf (strings, numbers, booleans, int-or-string, Quantity, Time…);
- ``Struct`` — declared fields; ``atomic`` when ``x-kubernetes-map-type: atomic``
  (e.g. LabelSelector) so the whole struct is one owned leaf;
- ``MapType`` — string keys to one element type (``additionalProperties``);
  granular unless ``x-kubernetes-map-type: atomic``;
- ``ListType`` — ``kind`` ``"atomic"``, ``"set"`` (of scalars) or ``"map"``
  (items keyed by ``keys``; a missing key field takes ``key_defaults`` or is
  left out of the key);
- ``Untyped`` — ``x-kubernetes-preserve-unknown-fields`` / raw JSON: maps are
  granular and lists atomic ("deduced" in structured-merge-diff).

Each node also carries what strategic merge patch needs: ``patch_strategy``
(``"merge"``, ``"replace"``, ``"retainKeys"``, or ``"merge,retainKeys"``…) and
``patch_merge_key`` from the property that declared it.

Built-in kinds come from kubernetes-validate's ``_definitions.json``
(``$defs`` with ``$ref`` and ``type: [x, "null"]`` unions), loaded once by
``load_builtin`` into a ``Catalog`` that the caller keeps; CRD kinds come from
their ``openAPIV3Schema`` via ``from_crd_schema``. Rules (SSA spec §0): a list
with ``x-kubernetes-list-type`` follows it; a list with only patch-strategy
``merge`` is a map keyed by its patch-merge-key (a set for scalars); any other
list is atomic. In CRDs lists are atomic unless annotated.

Nodes resolve their children lazily (schemas are recursive, e.g.
JSONSchemaProps) and are immutable once built. No I/O except ``load_builtin``
reading the packaged JSON file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

ListKind = Literal["atomic", "set", "map"]


class Scalar:
    """A leaf value."""

    patch_strategy: str
    patch_merge_key: str | None


class Struct:
    """An object with declared fields.

    ``field(name)`` returns the declared field's node or ``None`` for an
    undeclared name; ``atomic`` marks ``x-kubernetes-map-type: atomic``.
    ``preserve_unknown`` is true when undeclared fields are kept (CRDs with
    ``x-kubernetes-preserve-unknown-fields`` next to ``properties``); their
    values are then typed ``Untyped``.
    """

    atomic: bool
    preserve_unknown: bool
    patch_strategy: str
    patch_merge_key: str | None

    def field(self, name: str) -> Node | None:
        raise NotImplementedError

    def field_names(self) -> tuple[str, ...]:
        raise NotImplementedError


class MapType:
    """String keys to values of one type (``additionalProperties``)."""

    atomic: bool
    patch_strategy: str
    patch_merge_key: str | None

    @property
    def values(self) -> Node:
        raise NotImplementedError


class ListType:
    """A list: ``kind`` is atomic, set (of scalars) or map (keyed by ``keys``)."""

    kind: ListKind
    keys: tuple[str, ...]
    key_defaults: Mapping[str, Any]
    patch_strategy: str
    patch_merge_key: str | None

    @property
    def items(self) -> Node:
        raise NotImplementedError


class Untyped:
    """Schemaless JSON (preserve-unknown-fields, RawExtension): maps granular, lists atomic."""

    patch_strategy: str
    patch_merge_key: str | None


Node = Scalar | Struct | MapType | ListType | Untyped


class Catalog:
    """The built-in kinds of one Kubernetes version, by group/version/kind."""

    def object_type(self, *, group: str, version: str, kind: str) -> Struct | None:
        """The top-level type of a built-in kind, or ``None`` when not known."""
        raise NotImplementedError

    def definition(self, name: str) -> Node:
        """A named definition, e.g. ``io.k8s.api.core.v1.Container`` (KeyError if unknown)."""
        raise NotImplementedError

    def kinds(self) -> tuple[tuple[str, str, str], ...]:
        """Every (group, version, kind) that has a top-level definition."""
        raise NotImplementedError


def load_builtin(*, kubernetes_version: str = "1.37.0") -> Catalog:
    """Read kubernetes-validate's definitions for ``kubernetes_version`` (slow: call once)."""
    raise NotImplementedError


def from_crd_schema(schema: Mapping[str, Any], *, object_meta: Node | None = None) -> Struct:
    """The top-level type of a CRD version from its ``openAPIV3Schema``.

    ``metadata`` is typed as ObjectMeta when ``object_meta`` is given (pass
    ``catalog.definition("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")``),
    so labels, finalizers and ownerReferences merge as in built-in kinds;
    ``apiVersion`` and ``kind`` are scalars.
    """
    raise NotImplementedError
