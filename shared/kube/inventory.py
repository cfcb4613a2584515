"""Inventories of applied objects: identities, ordering, stages and diffs (pure).

A ``Ref`` names one object by group, kind, namespace and name (its identity,
as in Flux's ``ObjMetadata``) plus the API version it was applied with. The
inventory stored in ``status.inventory.entries`` is a list of
``{"id": "<ns>_<name>_<group>_<kind>", "v": "<version>"}`` in apply order;
``from_entries``/``to_entries`` convert.

Ordering follows fluxcd/pkg ``ssa``: kinds that others depend on first
(CRDs, Namespaces, quotas, classes, accounts, RBAC, config, Services …),
every other kind after them; ties by kind, namespace, name. Prune order is
the reverse, so a Namespace or CRD goes after what lives in it.

Before an apply may create an object that is not in the inventory, the
applier sets its status inventory to ``grown(recorded, desired)`` (the old
entries plus the new ones), so that the status written when a run fails
names every object the run may have created and a later prune finds it. (As
in Flux, a process killed mid-apply writes no status; the next run, applying
the same build, records what it finds.) An entry can name an object that
was never created; pruning it is a no-op.

``stages`` splits a build into kustomize-controller's apply stages, as
fluxcd/pkg ``ssa`` does: cluster definitions, then kinds ending in
``Class``, then the custom stage kinds (``--custom-apply-stage-kinds``,
``group/Kind``), then the rest; the caller waits for the first two to be
ready before the next. A cluster definition is known by its API group and
kind together: a CustomResourceDefinition of ``apiextensions.k8s.io``, a
Namespace of the core group, a ClusterRole of ``rbac.authorization.k8s.io``.
A custom resource whose kind happens to be ``Namespace`` is an ordinary
object of the last stage (it needs its CRD established first), and sorts
and prunes as one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from shared.api import kustomize

_APPLY_ORDER = (
    "CustomResourceDefinition",
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Service",
    "LimitRange",
    "PriorityClass",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
)
_RANK = {kind: rank for rank, kind in enumerate(_APPLY_ORDER)}
_CLUSTER_DEFINITIONS = {
    "CustomResourceDefinition": "apiextensions.k8s.io",
    "Namespace": "",
    "ClusterRole": "rbac.authorization.k8s.io",
}
"""Kind → the only API group in which that kind is a cluster definition."""

GroupKind = tuple[str, str]
"""``(group, kind)``; the core group is ``""``."""


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Ref:
    """One object's identity (group, kind, namespace, name) and its applied version."""

    group: str
    kind: str
    namespace: str
    name: str
    version: str = ""

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> Ref:
        """The ref of a manifest or live object."""
        group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
        metadata = obj.get("metadata") or {}
        return cls(
            group=group,
            kind=str(obj.get("kind", "")),
            namespace=str(metadata.get("namespace") or ""),
            name=str(metadata.get("name", "")),
            version=version,
        )

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any]) -> Ref:
        """The ref of an inventory entry; ``InvalidInventoryIdError`` when malformed."""
        parsed = kustomize.parse_inventory_id(str(entry.get("id", "")))
        return cls(
            group=parsed.group,
            kind=parsed.kind,
            namespace=parsed.namespace,
            name=parsed.name,
            version=str(entry.get("v", "")),
        )

    @property
    def key(self) -> tuple[str, str, str, str]:
        """The identity: refs differing only in version name the same object."""
        return (self.group, self.kind, self.namespace, self.name)

    @property
    def id(self) -> str:
        return kustomize.format_inventory_id(
            namespace=self.namespace, name=self.name, group=self.group, kind=self.kind
        )

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def __str__(self) -> str:
        """``Kind/namespace/name`` or ``Kind/name``, as in Flux's change sets and errors."""
        if self.namespace:
            return f"{self.kind}/{self.namespace}/{self.name}"
        return f"{self.kind}/{self.name}"


def from_entries(entries: Iterable[Mapping[str, Any]] | None) -> list[Ref]:
    """The refs of ``status.inventory.entries`` (in their stored order)."""
    return [Ref.from_entry(entry) for entry in entries or ()]


def to_entries(refs: Iterable[Ref]) -> list[dict[str, str]]:
    """``status.inventory.entries`` for ``refs``, in the order given."""
    return [{"id": ref.id, "v": ref.version} for ref in refs]


def to_status(refs: Iterable[Ref]) -> kustomize.ResourceInventory:
    """``status.inventory`` for ``refs``, in the order given."""
    return kustomize.ResourceInventory.model_validate({"entries": to_entries(refs)})


def _defines_cluster(group: str, kind: str) -> bool:
    return kind in _CLUSTER_DEFINITIONS and _CLUSTER_DEFINITIONS[kind] == group


def _sort_key(ref: Ref) -> tuple[int, str, str, str]:
    rank = _RANK.get(ref.kind, len(_APPLY_ORDER))
    if ref.kind in _CLUSTER_DEFINITIONS and not _defines_cluster(ref.group, ref.kind):
        rank = len(_APPLY_ORDER)  # NB: a custom kind named like a cluster definition
    return (rank, ref.kind, ref.namespace, ref.name)


def sort_for_apply(objects: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Objects in apply order (see the module docstring); stable for equal keys."""
    return sorted(objects, key=lambda obj: _sort_key(Ref.of(obj)))


def sort_for_prune(refs: Iterable[Ref]) -> list[Ref]:
    """Refs in delete order: the reverse of apply order."""
    return sorted(refs, key=_sort_key, reverse=True)


def stale(old: Sequence[Ref], new: Sequence[Ref]) -> list[Ref]:
    """Refs of ``old`` whose object is not in ``new`` (version ignored), in prune order."""
    keep = {ref.key for ref in new}
    return sort_for_prune(ref for ref in old if ref.key not in keep)


def merge(new: Sequence[Ref], survivors: Sequence[Ref]) -> list[Ref]:
    """``new`` plus the ``survivors`` not in it (objects a failed prune left behind)."""
    seen = {ref.key for ref in new}
    merged = list(new)
    for ref in survivors:
        if ref.key not in seen:
            seen.add(ref.key)
            merged.append(ref)
    return merged


def grown(recorded: Sequence[Ref], desired: Iterable[Ref]) -> list[Ref] | None:
    """The inventory ahead of an apply: ``recorded`` plus the ``desired`` refs it lacks, in order.

    None when ``recorded`` already names every desired object (versions
    ignored), so that a run which creates nothing new writes no record.
    """
    known = {ref.key for ref in recorded}
    additions = [ref for ref in desired if ref.key not in known]
    return merge(recorded, additions) if additions else None


def is_cluster_definition(obj: Mapping[str, Any]) -> bool:
    """A core Namespace, an apiextensions CRD or an RBAC ClusterRole (by group and kind)."""
    ref = Ref.of(obj)
    return _defines_cluster(ref.group, ref.kind)


def is_definition_ref(ref: Ref) -> bool:
    """Whether ``ref`` names a Namespace or a CRD (pruned after everything else)."""
    return ref.kind != "ClusterRole" and _defines_cluster(ref.group, ref.kind)


def parse_group_kinds(text: str) -> frozenset[GroupKind]:
    """``--custom-apply-stage-kinds``: comma-separated ``group/Kind`` (``Kind`` for the core group).

    ``ValueError`` names an item with more than one ``/``.
    """
    kinds: set[GroupKind] = set()
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        parts = item.split("/")
        if len(parts) > 2:
            raise ValueError(f"invalid group/kind format: {item}")
        kinds.add((parts[0], parts[1]) if len(parts) == 2 else ("", parts[0]))
    return frozenset(kinds)


def is_class(obj: Mapping[str, Any]) -> bool:
    return str(obj.get("kind", "")).endswith("Class")


def stages(
    objects: Iterable[Mapping[str, Any]], *, custom_kinds: frozenset[GroupKind] = frozenset()
) -> list[list[Mapping[str, Any]]]:
    """The non-empty apply stages, each in apply order (see the module docstring)."""
    definitions: list[Mapping[str, Any]] = []
    classes: list[Mapping[str, Any]] = []
    custom: list[Mapping[str, Any]] = []
    rest: list[Mapping[str, Any]] = []
    for obj in sort_for_apply(objects):
        ref = Ref.of(obj)
        if _defines_cluster(ref.group, ref.kind):
            definitions.append(obj)
        elif is_class(obj):
            classes.append(obj)
        elif (ref.group, ref.kind) in custom_kinds:
            custom.append(obj)
        else:
            rest.append(obj)
    return [stage for stage in (definitions, classes, custom, rest) if stage]
