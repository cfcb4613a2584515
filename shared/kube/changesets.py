"""What an apply or prune did: per-object changes, the change set, and the owner (pure).

``ChangeSet.summary`` is Flux's change-set text (a ``Kind/ns/name <action>``
line per created, configured or deleted object); ``Owner`` is the applier
whose labels (``<group>/name``, ``<group>/namespace``) mark the objects it owns.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any

from shared.kube import inventory

KUSTOMIZE_GROUP = "kustomize.toolkit.fluxcd.io"


class Action(enum.StrEnum):
    CREATED = "created"
    CONFIGURED = "configured"
    UNCHANGED = "unchanged"
    DELETED = "deleted"
    SKIPPED = "skipped"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Change:
    """What happened to one object; ``fields`` are the owned paths that differed."""

    ref: inventory.Ref
    action: Action
    fields: tuple[str, ...] = ()
    drifted: bool = False

    def __str__(self) -> str:
        return f"{self.ref} {self.action}"


@dataclasses.dataclass
class ChangeSet:
    changes: list[Change] = dataclasses.field(default_factory=list)

    def summary(self) -> str:
        """Flux's change-set text: a ``Kind/ns/name <action>`` line per create/configure/delete."""
        shown = (Action.CREATED, Action.CONFIGURED, Action.DELETED)
        return "\n".join(str(change) for change in self.changes if change.action in shown)

    def refs(self) -> list[inventory.Ref]:
        """The inventory of this apply: every object but deleted ones, in apply order."""
        return [change.ref for change in self.changes if change.action != Action.DELETED]

    def drifted(self) -> list[Change]:
        return [change for change in self.changes if change.drifted]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Owner:
    """The applier that owns objects: labels ``<group>/name`` and ``<group>/namespace``."""

    name: str
    namespace: str
    group: str = KUSTOMIZE_GROUP

    @property
    def labels(self) -> dict[str, str]:
        return {f"{self.group}/name": self.name, f"{self.group}/namespace": self.namespace}

    def owns(self, obj: Mapping[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(labels.get(key) == value for key, value in self.labels.items())
