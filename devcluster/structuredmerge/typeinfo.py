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
their ``openAPIV3Schema`` via ``from_crd_schema``. Rules (structured-merge-diff's): a list
with ``x-kubernetes-list-type`` follows it; a list with only patch-strategy
``merge`` is a map keyed by its patch-merge-key (a set for scalars); any other
list is atomic. In CRDs lists are atomic unless annotated.

Nodes resolve their children lazily (schemas are recursive, e.g.
JSONSchemaProps) and are immutable once built. No I/O except ``load_builtin``
reading the packaged JSON file.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Mapping
from typing import Any, Literal

ListKind = Literal["atomic", "set", "map"]

_DEFS_DIR = "kubernetes-json-schema"
_SCALAR_DEFS = frozenset(
    {
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
        "io.k8s.apimachinery.pkg.api.resource.Quantity",
        "io.k8s.apimachinery.pkg.apis.meta.v1.Time",
        "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime",
    }
)
_UNTYPED_DEFS = frozenset(
    {
        "io.k8s.apimachinery.pkg.runtime.RawExtension",
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON",
        "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1",
    }
)
# NB: the API server's OpenAPI declares ``default: "TCP"`` on these list-map key
# fields, but kubernetes-validate's export drops defaults; without them a port
# applied without ``protocol`` would get a different key than the stored one.
_KEY_FIELD_DEFAULTS: Mapping[str, Mapping[str, Any]] = {
    "io.k8s.api.core.v1.ContainerPort": {"protocol": "TCP"},
    "io.k8s.api.core.v1.ServicePort": {"protocol": "TCP"},
}
_SCALAR_TYPES = frozenset({"string", "integer", "number", "boolean"})


class _Base:
    __slots__ = ("default", "patch_merge_key", "patch_strategy")

    patch_strategy: str
    patch_merge_key: str | None
    default: Any

    def __init__(self, annotations: Mapping[str, Any]) -> None:
        self.patch_strategy = str(annotations.get("x-kubernetes-patch-strategy", ""))
        key = annotations.get("x-kubernetes-patch-merge-key")
        self.patch_merge_key = str(key) if key is not None else None
        self.default = annotations.get("default")


class Scalar(_Base):
    """A leaf value."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Scalar()"


class Untyped(_Base):
    """Schemaless JSON (preserve-unknown-fields, RawExtension): maps granular, lists atomic."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Untyped()"


class Struct(_Base):
    """An object with declared fields.

    ``field(name)`` returns the declared field's node or ``None`` for an
    undeclared name; ``atomic`` marks ``x-kubernetes-map-type: atomic``.
    ``preserve_unknown`` is true when undeclared fields are kept (CRDs with
    ``x-kubernetes-preserve-unknown-fields`` next to ``properties``); their
    values are then typed ``Untyped``.
    """

    __slots__ = ("_builder", "_fields", "_properties", "atomic", "name", "preserve_unknown")

    atomic: bool
    preserve_unknown: bool

    def __init__(
        self,
        annotations: Mapping[str, Any],
        *,
        properties: Mapping[str, Mapping[str, Any]],
        builder: _Builder,
        atomic: bool,
        preserve_unknown: bool,
        name: str = "",
    ) -> None:
        super().__init__(annotations)
        self._properties = properties
        self._builder = builder
        self._fields: dict[str, Node] = {}
        self.atomic = atomic
        self.preserve_unknown = preserve_unknown
        self.name = name

    def field(self, name: str) -> Node | None:
        node = self._fields.get(name)
        if node is None:
            schema = self._properties.get(name)
            if schema is None:
                return None
            node = self._builder.build(schema)
            if node.default is None:
                default = _KEY_FIELD_DEFAULTS.get(self.name, {}).get(name)
                if default is not None:
                    node = self._builder.with_default(node, default)
            self._fields[name] = node
        return node

    def __repr__(self) -> str:
        return f"Struct({self.name or list(self._properties)!r}, atomic={self.atomic})"


class MapType(_Base):
    """String keys to values of one type (``additionalProperties``)."""

    __slots__ = ("_builder", "_schema", "_values", "atomic")

    atomic: bool

    def __init__(
        self,
        annotations: Mapping[str, Any],
        *,
        values: Mapping[str, Any],
        builder: _Builder,
        atomic: bool,
    ) -> None:
        super().__init__(annotations)
        self._schema = values
        self._builder = builder
        self._values: Node | None = None
        self.atomic = atomic

    @property
    def values(self) -> Node:
        if self._values is None:
            self._values = self._builder.build(self._schema)
        return self._values

    def __repr__(self) -> str:
        return f"MapType(atomic={self.atomic})"


class ListType(_Base):
    """A list: ``kind`` is atomic, set (of scalars) or map (keyed by ``keys``)."""

    __slots__ = ("_builder", "_items", "_key_defaults", "_schema", "keys", "kind")

    kind: ListKind
    keys: tuple[str, ...]

    def __init__(
        self,
        annotations: Mapping[str, Any],
        *,
        items: Mapping[str, Any],
        builder: _Builder,
        kind: ListKind,
        keys: tuple[str, ...],
    ) -> None:
        super().__init__(annotations)
        self._schema = items
        self._builder = builder
        self._items: Node | None = None
        self._key_defaults: dict[str, Any] | None = None
        self.kind = kind
        self.keys = keys

    @property
    def items(self) -> Node:
        if self._items is None:
            self._items = self._builder.build(self._schema)
        return self._items

    @property
    def key_defaults(self) -> Mapping[str, Any]:
        """Defaults of key fields (from the item schema), used when an item omits one."""
        if self._key_defaults is None:
            defaults: dict[str, Any] = {}
            items = self.items
            if isinstance(items, Struct):
                for key in self.keys:
                    node = items.field(key)
                    if node is not None and node.default is not None:
                        defaults[key] = node.default
            self._key_defaults = defaults
        return self._key_defaults

    def __repr__(self) -> str:
        return f"ListType({self.kind}, keys={self.keys})"


Node = Scalar | Struct | MapType | ListType | Untyped


class _Builder:
    """Turns schema dicts into nodes, resolving ``$ref`` into ``defs`` (memoized)."""

    def __init__(self, defs: Mapping[str, Mapping[str, Any]]) -> None:
        self._defs = defs
        self._by_ref: dict[tuple[str, str, str | None], Node] = {}

    def definition(self, name: str) -> Node:
        return self.build({"$ref": "#/$defs/" + name})

    def with_default(self, node: Node, default: Any) -> Node:
        if isinstance(node, Scalar):
            copy = Scalar({})
            copy.patch_strategy = node.patch_strategy
            copy.patch_merge_key = node.patch_merge_key
            copy.default = default
            return copy
        return node

    def build(self, schema: Mapping[str, Any]) -> Node:
        ref = schema.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            strategy = schema.get("x-kubernetes-patch-strategy", "")
            merge_key = schema.get("x-kubernetes-patch-merge-key")
            cache_key = (name, str(strategy), merge_key)
            node = self._by_ref.get(cache_key)
            if node is None:
                target = self._defs.get(name)
                if target is None:
                    raise KeyError(f"unknown schema definition {name!r}")
                merged = dict(target)
                for k, v in schema.items():
                    if k.startswith("x-kubernetes-") or k == "default":
                        merged[k] = v
                node = self._build_plain(merged, name=name)
                self._by_ref[cache_key] = node
            return node
        return self._build_plain(schema, name="")

    def _build_plain(self, schema: Mapping[str, Any], *, name: str) -> Node:
        if name in _SCALAR_DEFS or schema.get("x-kubernetes-int-or-string"):
            return Scalar(schema)
        if name in _UNTYPED_DEFS:
            return Untyped(schema)
        types = _types(schema)
        preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
        if "array" in types:
            return self._build_list(schema)
        if "object" in types or "properties" in schema or "additionalProperties" in schema:
            atomic = schema.get("x-kubernetes-map-type") == "atomic"
            props = schema.get("properties")
            additional = schema.get("additionalProperties")
            if isinstance(props, Mapping) and props:
                return Struct(
                    schema,
                    properties=props,
                    builder=self,
                    atomic=atomic,
                    preserve_unknown=preserve,
                    name=name,
                )
            if isinstance(additional, Mapping):
                return MapType(schema, values=additional, builder=self, atomic=atomic)
            if additional is True or preserve or "object" in types:
                if atomic:
                    return Scalar(schema)
                return Untyped(schema)
        if types & _SCALAR_TYPES:
            return Scalar(schema)
        return Untyped(schema)

    def _build_list(self, schema: Mapping[str, Any]) -> ListType:
        items = schema.get("items")
        if not isinstance(items, Mapping):
            items = {"x-kubernetes-preserve-unknown-fields": True}
        list_type = schema.get("x-kubernetes-list-type")
        strategies = str(schema.get("x-kubernetes-patch-strategy", "")).split(",")
        merge_key = schema.get("x-kubernetes-patch-merge-key")
        scalar_items = _is_scalar_schema(items, self._defs)
        kind: ListKind = "atomic"
        keys: tuple[str, ...] = ()
        if list_type == "map":
            kind = "map"
            keys = tuple(schema.get("x-kubernetes-list-map-keys") or ())
        elif list_type == "set":
            kind = "set"
        elif list_type is None and "merge" in strategies:
            if scalar_items:
                kind = "set"
            elif merge_key:
                kind = "map"
                keys = (str(merge_key),)
        if kind == "map" and (scalar_items or not keys):
            kind = "set" if scalar_items else "atomic"
        return ListType(schema, items=items, builder=self, kind=kind, keys=keys)


def _types(schema: Mapping[str, Any]) -> frozenset[str]:
    raw = schema.get("type")
    if isinstance(raw, str):
        return frozenset({raw})
    if isinstance(raw, list):
        return frozenset(t for t in raw if isinstance(t, str) and t != "null")
    return frozenset()


def _is_scalar_schema(schema: Mapping[str, Any], defs: Mapping[str, Mapping[str, Any]]) -> bool:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if name in _SCALAR_DEFS:
            return True
        schema = defs.get(name, {})
    if schema.get("x-kubernetes-int-or-string"):
        return True
    types = _types(schema)
    return bool(types) and types <= _SCALAR_TYPES


class Catalog:
    """The built-in kinds of one Kubernetes version, by group/version/kind."""

    def __init__(self, defs: Mapping[str, Mapping[str, Any]]) -> None:
        self._builder = _Builder(defs)
        self._kinds: dict[tuple[str, str, str], str] = {}
        for name, schema in defs.items():
            for gvk in schema.get("x-kubernetes-group-version-kind") or ():
                key = (gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", ""))
                # Meta types (DeleteOptions, WatchEvent…) list every group; a
                # group's own definition wins.
                if key not in self._kinds or ".meta." in self._kinds[key]:
                    self._kinds[key] = name

    def object_type(self, *, group: str, version: str, kind: str) -> Struct | None:
        """The top-level type of a built-in kind, or ``None`` when not known."""
        name = self._kinds.get((group, version, kind))
        if name is None:
            return None
        node = self._builder.definition(name)
        return node if isinstance(node, Struct) else None

    def definition(self, name: str) -> Node:
        """A named definition, e.g. ``io.k8s.api.core.v1.Container`` (KeyError if unknown)."""
        return self._builder.definition(name)

    def kinds(self) -> tuple[tuple[str, str, str], ...]:
        """Every (group, version, kind) that has a top-level definition."""
        return tuple(sorted(self._kinds))


def load_builtin(*, kubernetes_version: str = "1.37.0") -> Catalog:
    """Read kubernetes-validate's definitions for ``kubernetes_version`` (slow: call once)."""
    import kubernetes_validate

    base = pathlib.Path(kubernetes_validate.__file__).parent / _DEFS_DIR
    path = base / f"v{kubernetes_version}-local" / "_definitions.json"
    if not path.exists():
        path = base / f"v{kubernetes_version}" / "_definitions.json"
    with path.open(encoding="utf-8") as handle:
        document = json.load(handle)
    defs = document.get("$defs") or document.get("definitions") or {}
    return Catalog(defs)


def from_crd_schema(schema: Mapping[str, Any], *, object_meta: Node | None = None) -> Struct:
    """The top-level type of a CRD version from its ``openAPIV3Schema``.

    ``metadata`` is typed as ObjectMeta when ``object_meta`` is given (pass
    ``catalog.definition("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")``),
    so labels, finalizers and ownerReferences merge as in built-in kinds;
    ``apiVersion`` and ``kind`` are scalars.
    """
    builder = _Builder({})
    properties = dict(schema.get("properties") or {})
    properties["apiVersion"] = {"type": "string"}
    properties["kind"] = {"type": "string"}
    properties.setdefault("metadata", {"type": "object"})
    top = Struct(
        schema,
        properties=properties,
        builder=builder,
        atomic=False,
        preserve_unknown=bool(schema.get("x-kubernetes-preserve-unknown-fields")),
    )
    if object_meta is not None:
        top._fields["metadata"] = object_meta
    return top
