"""The fast path of server-side apply: a manager re-applies a configuration
whose shape is unchanged to the object its previous apply left.

This is what GitOps controllers do all day: the same manager applies the same
manifests again, now and then with a leaf value changed (an image tag, an
annotation). When

- ``live`` is exactly the object the previous apply of ``previous`` by this
  manager (same subresource) left stored — nobody wrote it since;
- re-applying ``previous`` to ``live`` changes nothing (``round_trips``: the
  merge gives back ``live`` value for value, type for type, and the
  manager's entry owns nothing beyond what ``previous`` sets, so nothing
  would be pruned);
- the new configuration has the shape of ``previous``: the same keys in the
  same order, the same list lengths, ``null`` in the same places, and differs
  only in scalar values (``leaf_changes``) that are neither associative-list
  keys nor set items;

then the full algorithm (``fieldmanager.apply_tracked``) provably reduces to:
the applier's field set is unchanged, nothing is pruned, the merge is
``live`` with the changed values written in, and only those values can
conflict. ``reapply`` computes exactly that and returns ``None`` whenever it
cannot be sure of giving the full algorithm's answer — any change under
metadata other than labels and annotations, or under a reset field; a
changed value another manager owns (a conflict, or shared ownership to
take away); the ``kubectl`` manager (last-applied annotation); defaults
that would fill something in — and the caller then runs the full algorithm.

Pure functions, no I/O; values are never mutated.
"""

from __future__ import annotations

import dataclasses
import datetime
import marshal
from typing import Any

from devcluster.fieldmanager import fieldmanager
from devcluster.structuredmerge import fieldpaths, managedfields, typedvalues, typeinfo

Object = dict[str, Any]
Path = fieldpaths.Path
# A position in a JSON value: dict keys and list indexes.
JsonPath = tuple[str | int, ...]
# Metadata an apply configuration may change on the fast path (everything else
# there is server-owned, identity, or rare enough to leave to the full path).
_FAST_METADATA = frozenset({"labels", "annotations"})
_METADATA = fieldpaths.Field("metadata")


def leaf_changes(before: Any, after: Any) -> list[JsonPath] | None:
    """Paths of the scalars that differ between two JSON objects of the same shape.

    ``None`` when the shapes differ: a key added, removed or moved, a list of
    another length, a container where a scalar was, or ``null`` appearing or
    disappearing. Scalars differ when their values or JSON types do
    (``1``, ``1.0`` and ``true`` all differ). ``[]`` means the values are the
    same JSON document.
    """
    if type(before) is not dict or type(after) is not dict:
        return None
    out: list[JsonPath] = []
    if (before == after and _same_document(before, after)) or _walk(before, after, (), out):
        return out
    return None


_CONTAINERS = (dict, list)


def _walk(a: Any, b: Any, path: JsonPath, out: list[JsonPath]) -> bool:
    """Compare two containers of the same type, adding changed scalars to ``out``."""
    if len(a) != len(b):
        return False
    if type(a) is dict:
        for (step, x), (other, y) in zip(a.items(), b.items(), strict=True):
            if step != other or not _compare(x, y, path, step, out):
                return False
        return True
    return all(_compare(x, y, path, i, out) for i, (x, y) in enumerate(zip(a, b, strict=True)))


def _compare(x: Any, y: Any, path: JsonPath, step: str | int, out: list[JsonPath]) -> bool:
    if x is y:
        return True
    kind = type(x)
    if kind is not type(y):
        if kind in _CONTAINERS or type(y) in _CONTAINERS or x is None or y is None:
            return False
        out.append((*path, step))
        return True
    if kind is dict or kind is list:
        # NB: equal subtrees (most of them) are skipped at C speed.
        if x == y and _same_document(x, y):
            return True
        return _walk(x, y, (*path, step), out)
    if x != y or (kind is float and repr(x) != repr(y)):  # -0.0 == 0.0
        out.append((*path, step))
    return True


def _same_document(x: Any, y: Any) -> bool:
    """Whether two equal (``==``) containers are the same JSON document.

    ``==`` tells neither ``1``, ``1.0`` and ``true`` apart nor key orders;
    marshal's version 0 format does, and (unlike later versions, which share
    repeated objects) it depends on the values alone.
    """
    try:
        return marshal.dumps(x, 0) == marshal.dumps(y, 0)
    except ValueError:  # not JSON after all: compare item by item
        return False


def round_trips(
    live: Object,
    config: Object,
    *,
    entries: list[managedfields.Entry],
    applied: frozenset[Path],
    manager: str,
    subresource: str,
    schema: typeinfo.Struct,
    status_subresource: bool,
) -> bool:
    """Whether re-applying ``config`` (whose field set was ``applied``) to ``live`` is a no-op.

    True when the merge gives ``live`` back as the same JSON document (key
    order included) and the manager's entry among ``live``'s ``entries`` owns
    nothing ``applied`` lacks (so nothing is pruned). The precondition of
    ``reapply``.
    """
    mine = managedfields.find(entries, ("Apply", manager, subresource))
    if mine is None or not mine.fields <= applied:
        return False
    live_obj = fieldmanager.strip_managed(live)
    resets = _resets(config, subresource=subresource, status_subresource=status_subresource)
    merged = fieldmanager.merge_config(live_obj, config, schema=schema, resets=resets)
    # NB: key order counts: an atomic node takes the configuration's order, and
    # the full algorithm would write it with the next change.
    return merged == live_obj and _same_document(merged, live_obj)


def _resets(config: Object, *, subresource: str, status_subresource: bool) -> fieldpaths.FieldSet:
    return fieldmanager.reset_fields(
        api_version=str(config.get("apiVersion", "")),
        kind=str(config.get("kind", "")),
        subresource=subresource,
        status_subresource=status_subresource,
    )


@dataclasses.dataclass(frozen=True)
class Reapplied:
    """The result of the fast path."""

    applied: fieldmanager.Applied
    # JSON paths, in ``applied.object``, of the scalars this apply wrote: all
    # the validation a result needs when ``live`` was valid.
    leaves: list[JsonPath]


@dataclasses.dataclass(frozen=True)
class _Target:
    """One typed path the new configuration changes: where it is in both values."""

    config_path: JsonPath  # the JSON path of the typed path's value in the configuration
    nodes: tuple[typeinfo.Node, ...]  # the node holding each element of the typed path
    inner: list[JsonPath]  # the changed scalars below it (relative), for validation


def reapply(
    live: Object,
    config: Object,
    *,
    changes: list[JsonPath],
    applied: frozenset[Path],
    entries: list[managedfields.Entry],
    manager: str,
    schema: typeinfo.Struct,
    now: datetime.datetime,
    subresource: str = "",
    status_subresource: bool = False,
    defaulter: fieldmanager.Defaulter | None = None,
) -> Reapplied | None:
    """``fieldmanager.apply_tracked(live, config, …)`` for a configuration that differs from
    the previous one only in the scalars at ``changes`` (``leaf_changes``), or ``None``
    when the full algorithm must run.

    Preconditions (the caller's to keep): ``live`` is what the previous apply
    by ``manager`` to this ``subresource`` stored, unchanged since; ``applied``
    is that apply's ``Applied.applied``; ``entries`` are ``live``'s decoded
    managedFields; ``round_trips`` holds for ``live`` and the previous
    configuration; the schema is the one that apply used.
    """
    if manager == "kubectl" or not changes:
        return None
    resets = _resets(config, subresource=subresource, status_subresource=status_subresource)
    targets: dict[Path, _Target] = {}
    for change in changes:
        located = _locate(config, change, schema)
        if located is None:
            return None
        path, depth, nodes = located
        if not _may_change(path, resets):
            return None
        target = targets.get(path)
        if target is None:
            target = targets[path] = _Target(config_path=change[:depth], nodes=nodes, inner=[])
        target.inner.append(change[depth:])
    mine = managedfields.find(entries, ("Apply", manager, subresource))
    if mine is None:
        return None
    others = [e for e in entries if e.identity != mine.identity and e.fields]
    live_obj = fieldmanager.strip_managed(live)
    result: Object = live_obj
    modified: set[Path] = set()
    leaves: list[JsonPath] = []
    for path, target in targets.items():
        found = _find(live_obj, path, target.nodes)
        if found is None:
            return None
        where, before = found
        after = _get(config, target.config_path)
        # NB: exactly typedvalues.compare's test at a leaf or atomic node.
        if not (type(before) is type(after) and before == after) and typedvalues.differs(
            before, after
        ):
            modified.add(path)
        result = _replace(result, where, after)
        leaves.extend((*where, *inner) for inner in target.inner)
    for entry in others:
        if not entry.fields.isdisjoint(modified):
            return None
    time = mine.time
    if result == live_obj:
        result = live_obj
    else:
        if defaulter is not None and defaulter(result) != result:
            return None
        time = fieldmanager.timestamp(now)
    fields = applied - fieldmanager.UNTRACKED
    me = managedfields.Entry(
        manager=manager,
        operation="Apply",
        api_version=str(config.get("apiVersion", "")),
        time=time,
        subresource=subresource,
        fields=fields,
        encoded=mine.encoded if mine.fields == fields else None,
    )
    arranged = managedfields.arrange([*others, me] if fields else others)
    return Reapplied(
        applied=fieldmanager.Applied(
            object=managedfields.store_arranged(result, arranged),
            entries=arranged,
            applied=applied,
        ),
        leaves=leaves,
    )


def _locate(
    config: Object, change: JsonPath, schema: typeinfo.Struct
) -> tuple[Path, int, tuple[typeinfo.Node, ...]] | None:
    """The typed path a changed scalar belongs to: the scalar itself, or the atomic node
    holding it. Also how many steps of ``change`` lead to it and the node of each
    element. ``None`` when the change is to a list key or a set item (a new field set)."""
    node: typeinfo.Node = schema
    value: Any = config
    path: list[fieldpaths.PathElement] = []
    nodes: list[typeinfo.Node] = []
    for depth, step in enumerate(change):
        kind = typedvalues.granular(node, value)
        if not kind:
            return tuple(path), depth, tuple(nodes)
        nodes.append(node)
        if kind in ("struct", "map"):
            assert isinstance(step, str)
            child = typedvalues.child_node(node, kind, step)
            path.append(fieldpaths.Field(step))
            node, value = child, value[step]
            continue
        if kind == "set":
            return None
        assert isinstance(node, typeinfo.ListType)
        assert isinstance(step, int)
        item = value[step]
        key = typedvalues.item_key(item, node)
        if key is None or (depth + 1 < len(change) and change[depth + 1] in node.keys):
            return None
        path.append(key)
        node, value = node.items, item
    return tuple(path), len(change), tuple(nodes)


def _may_change(path: Path, resets: fieldpaths.FieldSet) -> bool:
    if not path or path[0].kind != "f":
        return False
    head = path[0]
    if head == _METADATA:
        return len(path) > 2 and path[1] in _FAST_METADATA_FIELDS
    if head in _IDENTITY_FIELDS:
        return False
    return not resets or not resets.has_prefix_of(path)


_FAST_METADATA_FIELDS = frozenset(fieldpaths.Field(name) for name in _FAST_METADATA)
_IDENTITY_FIELDS = frozenset({fieldpaths.Field("apiVersion"), fieldpaths.Field("kind")})


def _find(
    live: Object, path: Path, nodes: tuple[typeinfo.Node, ...]
) -> tuple[JsonPath, Any] | None:
    """The JSON path and value of a typed path in ``live``; ``None`` when absent or ambiguous."""
    value: Any = live
    where: list[str | int] = []
    for element, node in zip(path, nodes, strict=True):
        if isinstance(element, fieldpaths.Field):
            if not isinstance(value, dict) or element.name not in value:
                return None
            where.append(element.name)
            value = value[element.name]
            continue
        if not isinstance(value, list) or not isinstance(node, typeinfo.ListType):
            return None
        matches = [i for i, item in enumerate(value) if typedvalues.item_key(item, node) == element]
        if len(matches) != 1:
            return None
        where.append(matches[0])
        value = value[matches[0]]
    return tuple(where), value


def _get(value: Any, path: JsonPath) -> Any:
    for step in path:
        value = value[step]
    return value


def _replace(container: Any, path: JsonPath, value: Any) -> Any:
    """``container`` with the value at ``path`` replaced, copying only the containers on the way."""
    if not path:
        return value
    step = path[0]
    copied: Any = dict(container) if isinstance(container, dict) else list(container)
    copied[step] = _replace(container[step], path[1:], value)
    return copied
