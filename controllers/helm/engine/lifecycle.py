"""Rollback, uninstall, test and unlock, step by step as Helm (and Flux, for unlock) run them.

- ``rollback``: to ``to_version`` or the revision before the latest; a new
  ``pending-rollback`` revision copies the target's chart, values, manifest,
  hooks and labels (``Rollback to <n>``), pre-rollback hooks, apply (the
  latest revision's objects that the target lacks are deleted), wait,
  post-rollback hooks; then every deployed revision is superseded and the
  new one deployed — or it is failed (``cleanup_on_fail`` deletes the
  objects it added).
- ``uninstall``: the latest revision becomes ``uninstalling``, pre-delete
  hooks, its objects deleted (but ``helm.sh/resource-policy: keep``) in
  reverse install order with the deletion propagation asked, their deletion
  awaited unless ``disable_wait``, post-delete hooks; then the revision is
  ``uninstalled`` (``keep_history``) or every revision is deleted. A release
  already uninstalled with its history kept is returned as it is.
- ``test``: the test hooks of the latest revision that the filters select
  (Flux's: names to run, or with ``exclude`` names to skip) run as Helm runs
  hooks; their results are stored on the revision, whose status is kept.
- ``unlock``: a latest revision left ``pending-*`` (a process killed
  mid-action) becomes ``failed``: "Release unlocked from stale '<status>'
  state", as Flux writes it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from controllers.helm.engine import cluster, failures, hooks, records, requests, steps
from shared.api import helm as helm_api

Status = records.Status


async def rollback(parts: steps.Parts, req: requests.RollbackRequest) -> records.ReleaseRecord:
    """``helm rollback`` (see the module docstring)."""
    history = await steps.history(parts, req.release_name)
    if not history:
        raise failures.ReleaseNotFoundError(f"release: {req.release_name} not found")
    latest = history[-1]
    target_version = req.to_version or latest.version - 1
    if target_version < 1:
        raise failures.ReleaseNotFoundError(f"release {req.release_name} has no previous revision")
    target = await parts.store.get(req.release_name, target_version)
    origin = req.origin or requests.Origin(name=target.name, namespace=target.namespace)
    objects = await steps.objects_of(parts, target)
    previous = await steps.objects_of(parts, latest)
    revision = dataclasses.replace(
        target,
        version=latest.version + 1,
        status=Status.PENDING_ROLLBACK,
        description=f"Rollback to {target_version}",
        first_deployed=latest.first_deployed,
        last_deployed=records.now(),
        deleted=None,
        rollback_revision=target_version,
        apply_method=requests.apply_method(req.server_side_apply, previous=target.apply_method),
    )
    step = await steps.begin(parts, revision, max_history=req.max_history)
    await steps.perform(
        parts,
        step,
        action="rollback",
        objects=objects,
        previous=previous,
        waiting=req,
        origin=origin,
        force=req.force,
        disable_hooks=req.disable_hooks,
        cleanup_on_fail=req.cleanup_on_fail,
    )
    for record in history:
        if record.status == Status.DEPLOYED:
            await steps.supersede(parts, record)
    return await step.save(status=Status.DEPLOYED)


async def uninstall(parts: steps.Parts, req: requests.UninstallRequest) -> records.ReleaseRecord:
    """``helm uninstall`` (see the module docstring); returns the last state of the release."""
    history = await parts.store.history(req.release_name)
    if not history:
        raise failures.ReleaseNotFoundError(f"release: {req.release_name} not found")
    latest = history[-1]
    if latest.status == Status.UNINSTALLED:
        if not req.keep_history:
            await _purge(parts, history)
        return latest
    objects = await steps.objects_of(parts, latest)
    step = steps.Step(latest, parts.store)
    await step.save(
        status=Status.UNINSTALLING,
        description="Deletion in progress (or silently failed)",
        deleted=records.now(),
    )
    try:
        await steps.run_hooks(
            parts, step, "pre-delete", disabled=req.disable_hooks, within=req.timeout
        )
        deleted = await parts.cluster.delete(objects, propagation=req.deletion_propagation)
        if not req.disable_wait:
            await parts.cluster.wait_deleted(deleted, within=req.timeout)
        await steps.run_hooks(
            parts, step, "post-delete", disabled=req.disable_hooks, within=req.timeout
        )
    except cluster.ClusterError as error:
        raise failures.ReleaseFailedError("uninstall", step.record, error.message) from error
    final = step.record.with_status(
        Status.UNINSTALLED, req.description or "Uninstallation complete"
    )
    if req.keep_history:
        await parts.store.update(final)
    else:
        await _purge(parts, history)
    return final


async def _purge(parts: steps.Parts, history: list[records.ReleaseRecord]) -> None:
    for record in history:
        await parts.store.delete(record.name, record.version)


def selector(filters: Sequence[helm_api.Filter]) -> hooks.Selector:
    """Flux's test filters: only the named tests when any is named, never the excluded ones."""
    included = {f.name for f in filters if not f.exclude}
    excluded = {f.name for f in filters if f.exclude}

    def selected(hook: records.Hook) -> bool:
        if hook.name in excluded:
            return False
        return not included or hook.name in included

    return selected


async def test(parts: steps.Parts, req: requests.TestRequest) -> records.ReleaseRecord:
    """``helm test`` (see the module docstring)."""
    latest = await parts.store.latest(req.release_name)
    if latest is None:
        raise failures.ReleaseNotFoundError(f"release: {req.release_name} not found")
    step = steps.Step(latest, parts.store)
    try:
        updated = await parts.hooks.run(
            latest.hooks,
            event="test",
            release=latest.name,
            namespace=latest.namespace,
            within=req.timeout,
            progress=step.save_hooks,
            selected=selector(req.filters),
        )
    except hooks.HookError as error:
        await step.save(hooks=error.hooks)
        raise failures.ReleaseFailedError("test", step.record, error.message) from error
    return await step.save(hooks=updated)


async def unlock(parts: steps.Parts, name: str) -> records.ReleaseRecord | None:
    """A pending latest revision becomes failed (module docstring); returns the latest."""
    latest = await parts.store.latest(name)
    if latest is None or not latest.status.pending:
        return latest
    unlocked = latest.with_status(
        Status.FAILED, f"Release unlocked from stale '{latest.status}' state"
    )
    await parts.store.update(unlocked)
    return unlocked
