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

The inventory is also a write-ahead record: before an apply may create an
object that is not in it, the applier records ``grown(recorded, desired)``
(the old entries plus the new ones) in status, and only then writes. So at
every instant each object an applier created is in its recorded inventory
(or gone), and a run that was killed leaves nothing a later prune cannot
find. An entry can name an object that was never created; pruning it is a
no-op.

``stages`` splits a build into kustomize-controller's apply stages: cluster
definitions (CRDs, Namespaces, ClusterRoles), then kinds ending in
``Class``, then the rest; the caller waits for each stage to be ready
before the next.
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
_CLUSTER_DEFINITIONS = frozenset({"CustomResourceDefinition", "Namespace", "ClusterRole"})


@dataclasses.dataclass(frozen=True, kw_only=True)
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


def _sort_key(ref: Ref) -> tuple[int, str, str, str]:
    return (_RANK.get(ref.kind, len(_APPLY_ORDER)), ref.kind, ref.namespace, ref.name)


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
    """The write-ahead record: ``recorded`` plus the ``desired`` refs it lacks, in that order.

    None when ``recorded`` already names every desired object (versions
    ignored), so that a run which creates nothing new writes no record.
    """
    known = {ref.key for ref in recorded}
    additions = [ref for ref in desired if ref.key not in known]
    return merge(recorded, additions) if additions else None


def is_cluster_definition(obj: Mapping[str, Any]) -> bool:
    return str(obj.get("kind", "")) in _CLUSTER_DEFINITIONS


def is_class(obj: Mapping[str, Any]) -> bool:
    return str(obj.get("kind", "")).endswith("Class")


def stages(objects: Iterable[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """The non-empty apply stages, each in apply order (see the module docstring)."""
    definitions: list[Mapping[str, Any]] = []
    classes: list[Mapping[str, Any]] = []
    rest: list[Mapping[str, Any]] = []
    for obj in sort_for_apply(objects):
        if is_cluster_definition(obj):
            definitions.append(obj)
        elif is_class(obj):
            classes.append(obj)
        else:
            rest.append(obj)
    return [stage for stage in (definitions, classes, rest) if stage]
