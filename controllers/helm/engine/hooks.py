"""Running a release's hooks for one event, as Helm's ``execHook`` does.

The hooks of the event run one after another, sorted by weight, then name.
For each: a hook without delete policy gets ``before-hook-creation``; with
that policy the previous object of the hook is deleted (and its deletion
awaited) first; the hook's ``last_run`` is set to Running and the release
stored (``progress``); the object is created by server-side apply; then it
is awaited: a Job until Complete (Failed fails the hook), a Pod until
Succeeded (Failed fails it), any other kind not at all. A failed hook is
deleted when it has ``hook-failed``, the hooks that already succeeded when
they have ``hook-succeeded``, and ``HookError`` is raised. After all
succeeded, each (in reverse order) is deleted when it has ``hook-succeeded``.

``run`` returns the release's hooks with their new ``last_run``; a
``HookError`` carries them too, so the failed revision stores the results.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from controllers.helm.engine import cluster, manifests, records
from shared.kube import errors, inventory

BEFORE_HOOK_CREATION = "before-hook-creation"
HOOK_SUCCEEDED = "hook-succeeded"
HOOK_FAILED = "hook-failed"

Progress = Callable[[tuple[records.Hook, ...]], Awaitable[None]]
Selector = Callable[[records.Hook], bool]


class HookError(Exception):
    """A hook failed; ``hooks`` are the release's hooks with the results so far."""

    def __init__(self, message: str, *, hooks: tuple[records.Hook, ...]) -> None:
        super().__init__(message)
        self.message = message
        self.hooks = hooks


def _condition(obj: Mapping[str, Any], kind: str) -> dict[str, Any] | None:
    for condition in (obj.get("status") or {}).get("conditions") or ():
        if condition.get("type") == kind and condition.get("status") == "True":
            return dict(condition)
    return None


def outcome(obj: Mapping[str, Any]) -> str | None:
    """None while the hook object runs, "" when it succeeded, else why it failed."""
    kind = obj.get("kind")
    name = (obj.get("metadata") or {}).get("name", "")
    if kind == "Job":
        if _condition(obj, "Complete") is not None:
            return ""
        failed = _condition(obj, "Failed")
        if failed is not None:
            return f"job {name} failed: {failed.get('reason', '')}"
        return None
    if kind == "Pod":
        phase = (obj.get("status") or {}).get("phase")
        if phase == "Succeeded":
            return ""
        if phase == "Failed":
            return f"pod {name} failed"
        return None
    return ""


class Runner:
    """Runs hooks against one cluster (see the module docstring)."""

    def __init__(self, kube: cluster.Cluster) -> None:
        self.kube = kube

    async def _objects(
        self, hook: records.Hook, *, release: str, namespace: str
    ) -> list[dict[str, Any]]:
        return await self.kube.prepare(
            manifests.objects(hook.manifest), release=release, namespace=namespace, ownership=False
        )

    async def _delete_by_policy(
        self, hook: records.Hook, policy: str, *, release: str, namespace: str, within: float
    ) -> None:
        if hook.kind == "CustomResourceDefinition" or policy not in hook.delete_policies:
            return
        objects = await self._objects(hook, release=release, namespace=namespace)
        deleted = await self.kube.delete(objects, propagation="Background")
        await self.kube.wait_deleted(deleted, within=within)

    async def _await(self, objects: Sequence[Mapping[str, Any]], *, within: float) -> None:
        deadline = time.monotonic() + within
        pending = list(objects)
        while pending:
            still: list[Mapping[str, Any]] = []
            for obj in pending:
                live = await self.kube.get(obj)
                verdict = None if live is None else outcome(live)
                if verdict is None:
                    still.append(obj)
                elif verdict:
                    raise cluster.ClusterError(verdict)
            pending = still
            if pending and time.monotonic() > deadline:
                names = ", ".join(str(inventory.Ref.of(obj)) for obj in pending)
                raise cluster.ClusterError(f"timed out waiting for the condition on {names}")
            if pending:
                await self.kube.sleep()

    async def run(
        self,
        hooks: tuple[records.Hook, ...],
        *,
        event: str,
        release: str,
        namespace: str,
        within: float,
        progress: Progress,
        selected: Selector = lambda hook: True,
    ) -> tuple[records.Hook, ...]:
        """Run the hooks of ``event`` (see the module docstring); returns all hooks updated."""
        current = list(hooks)
        order = sorted(
            (index for index, hook in enumerate(current) if hook.runs_on(event) and selected(hook)),
            key=lambda index: (current[index].weight, current[index].name),
        )
        scope = {"release": release, "namespace": namespace}

        def update(index: int, **changes: Any) -> records.Hook:
            current[index] = dataclasses.replace(current[index], **changes)
            return current[index]

        for position, index in enumerate(order):
            hook = current[index]
            if not hook.delete_policies:
                hook = update(index, delete_policies=(BEFORE_HOOK_CREATION,))
            try:
                await self._delete_by_policy(hook, BEFORE_HOOK_CREATION, within=within, **scope)
                objects = await self._objects(hook, **scope)
            except cluster.ClusterError as error:
                raise HookError(error.message, hooks=tuple(current)) from error
            started = records.now()
            update(index, last_run=records.HookExecution(started_at=started, phase="Running"))
            await progress(tuple(current))
            try:
                for obj in objects:
                    try:
                        await self.kube.objects.apply(
                            obj, field_manager=self.kube.manager.field_manager, force=True
                        )
                    except errors.KubeError as error:
                        raise cluster.ClusterError(
                            f"warning: Hook {event} {hook.path} failed: {error.message}"
                        ) from error
                await self._await(objects, within=within)
            except cluster.ClusterError as error:
                hook = update(
                    index,
                    last_run=records.HookExecution(
                        started_at=started, completed_at=records.now(), phase="Failed"
                    ),
                )
                await self._cleanup_after_failure(
                    hook, [current[i] for i in order[:position]], within=within, **scope
                )
                raise HookError(error.message, hooks=tuple(current)) from error
            update(
                index,
                last_run=records.HookExecution(
                    started_at=started, completed_at=records.now(), phase="Succeeded"
                ),
            )
        try:
            for index in reversed(order):
                await self._delete_by_policy(current[index], HOOK_SUCCEEDED, within=within, **scope)
        except cluster.ClusterError as error:
            raise HookError(error.message, hooks=tuple(current)) from error
        return tuple(current)

    async def _cleanup_after_failure(
        self,
        failed: records.Hook,
        succeeded: Sequence[records.Hook],
        *,
        release: str,
        namespace: str,
        within: float,
    ) -> None:
        # NB: as Helm, a failure to delete the failed hook is not the error reported.
        with contextlib.suppress(cluster.ClusterError):
            await self._delete_by_policy(
                failed, HOOK_FAILED, release=release, namespace=namespace, within=within
            )
        for hook in succeeded:
            await self._delete_by_policy(
                hook, HOOK_SUCCEEDED, release=release, namespace=namespace, within=within
            )
