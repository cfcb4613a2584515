"""The steps every Helm action shares: storing the revision as it changes, hooks, deploy, fail.

``Parts`` is what an action works with (storage, cluster, hook runner, and
how to render); ``Step`` is the revision an action is making, written to
storage on every change so that a process killed mid-action leaves Helm's
``pending-*`` revision behind, as Helm does. ``ClusterError`` is the one
error an action's steps raise; ``fail`` turns it into the stored ``failed``
revision and the ``ReleaseFailedError`` to raise, with Helm's description.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from controllers.helm.engine import (
    cluster,
    failures,
    hooks,
    manifests,
    postrendering,
    records,
    requests,
    storage,
)
from shared.kube import inventory

Status = records.Status
PENDING_MESSAGE = "another operation (install/upgrade/rollback) is in progress"
_FAILED_LABELS = {"install": "Release", "upgrade": "Upgrade", "rollback": "Rollback"}


@dataclasses.dataclass(frozen=True)
class Parts:
    """What the actions work with."""

    store: storage.ReleaseStore
    cluster: cluster.Cluster
    hooks: hooks.Runner
    kubeconfig: str | None = None
    kustomize: postrendering.Kustomize | None = None


@dataclasses.dataclass
class Step:
    """The revision an action is making, kept in storage as it changes."""

    record: records.ReleaseRecord
    store: storage.ReleaseStore

    async def save(self, **changes: Any) -> records.ReleaseRecord:
        self.record = dataclasses.replace(self.record, **changes)
        await self.store.update(self.record)
        return self.record

    async def save_hooks(self, updated: tuple[records.Hook, ...]) -> None:
        await self.save(hooks=updated)


def coalesce(values: Mapping[str, Any], base: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` deep-merged over ``base`` (Helm's ``CoalesceTables``; null deletes a key)."""
    merged: dict[str, Any] = dict(base)
    for key, value in values.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = coalesce(value, merged[key])
        else:
            merged[key] = value
    return merged


def keys(objects: Sequence[Mapping[str, Any]]) -> set[tuple[str, str, str, str]]:
    return {inventory.Ref.of(obj).key for obj in objects}


def added(
    objects: Sequence[Mapping[str, Any]], previous: Sequence[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """The objects that ``previous`` did not hold (what ``cleanupOnFail`` deletes)."""
    old = keys(previous)
    return [obj for obj in objects if inventory.Ref.of(obj).key not in old]


async def history(parts: Parts, name: str) -> list[records.ReleaseRecord]:
    """The release's revisions; ``EngineError`` when the latest is pending."""
    found = await parts.store.history(name)
    if found and found[-1].status.pending:
        raise failures.EngineError(PENDING_MESSAGE)
    return found


async def objects_of(
    parts: Parts, record: records.ReleaseRecord, *, manifest: str | None = None
) -> list[dict[str, Any]]:
    """The objects of a stored revision as the engine applies them."""
    text = record.manifest if manifest is None else manifest
    try:
        found = manifests.objects(text)
    except failures.ChartError as error:
        raise failures.StorageError(f"the stored manifest is unreadable: {error}") from error
    try:
        return await parts.cluster.prepare(found, release=record.name, namespace=record.namespace)
    except cluster.ClusterError as error:
        raise failures.EngineError(error.message) from error


async def run_hooks(parts: Parts, step: Step, event: str, *, disabled: bool, within: float) -> None:
    """Run the revision's hooks of ``event``; their results are stored on the revision."""
    if disabled:
        return
    try:
        updated = await parts.hooks.run(
            step.record.hooks,
            event=event,
            release=step.record.name,
            namespace=step.record.namespace,
            within=within,
            progress=step.save_hooks,
        )
    except hooks.HookError as error:
        step.record = dataclasses.replace(step.record, hooks=error.hooks)
        raise cluster.ClusterError(f"failed {event}: {error.message}") from error
    step.record = dataclasses.replace(step.record, hooks=updated)


async def deploy(
    parts: Parts,
    objects: Sequence[Mapping[str, Any]],
    *,
    previous: Sequence[Mapping[str, Any]],
    waiting: requests.Waiting,
    origin: requests.Origin,
    force: bool,
    method: str,
) -> None:
    """Apply (``method``: ssa or csa), delete what left the release, wait."""
    await parts.cluster.apply(
        objects,
        origin=origin,
        force=force,
        within=waiting.timeout,
        method=method,
        previous=previous,
    )
    keep = keys(objects)
    gone = [obj for obj in previous if inventory.Ref.of(obj).key not in keep]
    if gone:
        await parts.cluster.delete(gone)
    if not waiting.disable_wait:
        await parts.cluster.wait_ready(
            objects, within=waiting.timeout, jobs=not waiting.disable_wait_for_jobs
        )


async def begin(parts: Parts, record: records.ReleaseRecord, *, max_history: int) -> Step:
    """Store the new (pending) revision, pruning the history first as Helm does."""
    await parts.store.prune(record.name, max_history=max_history)
    await parts.store.create(record)
    return Step(record, parts.store)


async def perform(
    parts: Parts,
    step: Step,
    *,
    action: str,
    objects: Sequence[Mapping[str, Any]],
    previous: Sequence[Mapping[str, Any]],
    waiting: requests.Waiting,
    origin: requests.Origin,
    force: bool,
    disable_hooks: bool,
    cleanup_on_fail: bool,
) -> None:
    """Pre-``action`` hooks, deploy, post-``action`` hooks; the failed revision on error.

    ``cleanup_on_fail`` deletes, on failure, the objects ``previous`` lacked.
    """
    try:
        await run_hooks(
            parts, step, f"pre-{action}", disabled=disable_hooks, within=waiting.timeout
        )
        await deploy(
            parts,
            objects,
            previous=previous,
            waiting=waiting,
            origin=origin,
            force=force,
            method=step.record.apply_method,
        )
        await run_hooks(
            parts, step, f"post-{action}", disabled=disable_hooks, within=waiting.timeout
        )
    except cluster.ClusterError as error:
        cleanup = added(objects, previous) if cleanup_on_fail else ()
        raise await fail(parts, step, action, error.message, cleanup=cleanup) from error


async def fail(
    parts: Parts,
    step: Step,
    action: str,
    reason: str,
    *,
    cleanup: Sequence[Mapping[str, Any]] = (),
) -> failures.ReleaseFailedError:
    """Store the revision as failed (Helm's description); the error for the caller to raise."""
    description = f'{_FAILED_LABELS[action]} "{step.record.name}" failed: {reason}'
    await step.save(status=Status.FAILED, description=description)
    if cleanup:
        try:
            await parts.cluster.delete(cleanup)
        except cluster.ClusterError as error:
            reason = f"{reason}; cleanup failed: {error.message}"
    return failures.ReleaseFailedError(action, step.record, reason)


async def supersede(parts: Parts, record: records.ReleaseRecord) -> None:
    """Mark an older revision superseded (its description kept, as Helm keeps it)."""
    await parts.store.update(record.with_status(Status.SUPERSEDED, record.description))
