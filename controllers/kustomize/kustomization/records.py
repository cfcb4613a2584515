"""The inventory as the record of what a Kustomization may own: kept ahead of every write.

Contract (``Records.before_apply``, called by the apply step before any
object is written; ``Records.owned``, by ``finalize``):

- Every object a run may create is put in ``status.inventory``
  (``inventory.grown``) before it is written, so the status written when a
  run ends — whatever ends it — names each object the run may have created,
  and the next run's prune (or ``finalize``) finds it.
- When an inventory was written before, the grown one is also written at
  once (one status patch, only when the object set grows), so a kill at any
  later point leaves each created object recorded.
- A first apply writes no record of its own: the finalizer, added just
  before (``Run.add_finalizer``), and the owner labels on each object it
  creates are the record. A Kustomization that carries the finalizer but has
  no inventory therefore had a first apply cut short; its objects are found
  by owner label on every served kind (``ResourceManager.find_owned``: one
  LIST per kind, once) and become the old inventory. A first apply of this
  process is known without a search: a run may read a cached Kustomization
  older than that apply's status write.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from shared.api import kustomize, meta, objects
from shared.kube import errors, inventory, resourcemanager
from shared.runtime import logging, reconciling

Run = reconciling.Run[kustomize.Kustomization, kustomize.KustomizationStatus]
Failure = Callable[[str], Exception]
"""A message → the error that fails the run (ReconciliationFailed, retried)."""


def _key(obj: kustomize.Kustomization) -> str:
    return f"{obj.metadata.namespace or 'default'}/{obj.metadata.name}"


def _entries(status: kustomize.KustomizationStatus | None) -> list[inventory.Ref]:
    if status is None or status.inventory is None:
        return []
    return inventory.from_entries([objects.dump(e) for e in status.inventory.entries])


class Records:
    """The inventory records of one controller's Kustomizations (see the module docstring)."""

    def __init__(self) -> None:
        self._unrecorded: dict[str, list[inventory.Ref]] = {}
        """Per Kustomization, what a first apply of this process may have created
        while the status seen has no inventory yet."""

    async def before_apply(
        self,
        run: Run,
        manager: resourcemanager.ResourceManager,
        *,
        owner: resourcemanager.Owner,
        desired: Sequence[Mapping[str, Any]],
        fail: Failure,
    ) -> list[inventory.Ref]:
        """Record ``desired`` (the build) ahead of any write; the old inventory to prune against."""
        status, key = run.status, _key(run.obj)
        recorded = status.inventory is not None
        if recorded:
            old = _entries(status)
            self._unrecorded.pop(key, None)
        else:
            old = await self._recover(run.obj, manager, owner=owner, fail=fail)
        await run.add_finalizer()
        ahead = inventory.grown(old, [inventory.Ref.of(m) for m in desired])
        if ahead is not None:
            status.inventory = inventory.to_status(ahead)
            if recorded:
                try:
                    await run.write_status()
                except errors.KubeError as failed:
                    raise fail(
                        f"recording the inventory before applying failed: {failed.message}"
                    ) from failed
        if not recorded:
            self._unrecorded[key] = _entries(status)
        return old

    async def owned(
        self,
        obj: kustomize.Kustomization,
        manager: resourcemanager.ResourceManager,
        *,
        owner: resourcemanager.Owner,
    ) -> list[inventory.Ref]:
        """What a Kustomization being deleted may own: its inventory, or what a cut-short
        first apply created."""
        if obj.status is not None and obj.status.inventory is not None:
            return _entries(obj.status)
        known = self._unrecorded.get(_key(obj))
        if known is not None:
            return known
        return await manager.find_owned(owner)

    def forget(self, obj: kustomize.Kustomization) -> None:
        self._unrecorded.pop(_key(obj), None)

    async def _recover(
        self,
        obj: kustomize.Kustomization,
        manager: resourcemanager.ResourceManager,
        *,
        owner: resourcemanager.Owner,
        fail: Failure,
    ) -> list[inventory.Ref]:
        known = self._unrecorded.get(_key(obj))
        if known is not None:
            return known
        if meta.FINALIZER not in (obj.metadata.finalizers or []):
            return []
        try:
            found = await manager.find_owned(owner)
        except errors.KubeError as failed:
            raise fail(
                f"looking for objects of an interrupted first apply failed: {failed.message}"
            ) from failed
        logging.get_logger().info("inventory recovered from owner labels", objects=len(found))
        return found
