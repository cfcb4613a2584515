"""The reconcile skeleton every kind shares (DESIGN.md, "Reconcile pattern").

For one object: parse it into its model → handle deletion (the reconciler's
``finalize``, then remove the finalizer) → add the finalizer → honour
``spec.suspend`` → mark Reconciling → run the reconciler's steps → summarize
(Ready, Reconciling, Stalled, observedGeneration) and patch the status, in a
``finally``, only when it changed → decide the requeue from the error kind.

The reconciler (``Reconciler`` protocol) owns the domain steps. Steps change
``obj.status`` (their own conditions and fields) and raise
``results.ReconcileError`` subclasses on failure; they never write Ready,
Reconciling, Stalled or observedGeneration. ``reconcile.fluxcd.io/requestedAt``
is echoed into ``status.lastHandledReconcileAt``.

A step that must make something durable before it goes on (a write-ahead
record, progress) calls ``write_status``: the status is patched at once, and
the final patch then carries only what changed after it (``StatusWriter``).
"""

from __future__ import annotations

import contextvars
import dataclasses
from typing import Any, Protocol

import pydantic

from shared.api import meta, objects
from shared.kube import client, errors, resources
from shared.runtime import conditions, events, logging, results


class Reconciler(Protocol):
    """What a kind's reconciler provides to the skeleton."""

    @property
    def kind(self) -> type[objects.ApiObject]:
        """The model of the reconciled kind."""
        ...

    @property
    def summary(self) -> conditions.Summary:
        """The kind's owned conditions, for the summarizer."""
        ...

    async def reconcile(self, obj: Any) -> str | None:
        """Run the steps; return the Ready message on success, raise on failure."""
        ...

    async def finalize(self, obj: Any) -> None:
        """Clean up before the object is deleted (storage, applied objects …)."""
        ...

    def interval(self, obj: Any) -> float:
        """Seconds until the next reconcile after a success."""
        ...


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one pass of the skeleton did, for the worker and for tests."""

    requeue: results.Requeue
    patched_status: bool = False
    error: BaseException | None = None


def status_merge_patch(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A JSON merge patch turning ``old`` into ``new`` (removed keys become null)."""
    patch: dict[str, Any] = {}
    for key in old.keys() - new.keys():
        patch[key] = None
    for key, value in new.items():
        previous = old.get(key)
        if isinstance(value, dict) and isinstance(previous, dict):
            nested = status_merge_patch(previous, value)
            if nested:
                patch[key] = nested
        elif previous != value or key not in old:
            patch[key] = value
    return patch


class StatusWriter:
    """Patches one object's status, each time with a merge patch from what it last wrote.

    ``written`` starts as the status the run began with; a write that changes
    nothing sends nothing. Because every write is relative to the previous
    one, a field written mid-run and changed back before the end is written
    back too.
    """

    def __init__(self, *, api: client.Client, path: str, written: dict[str, Any]) -> None:
        self._api = api
        self._path = path
        self._written = written

    async def write(self, status: Any) -> bool:
        """Patch the server's status to ``status`` (a model); True when a request was sent."""
        after = objects.dump(status)
        if after == self._written:
            return False
        await self._api.request(
            "PATCH",
            self._path,
            body={"status": status_merge_patch(self._written, after)},
            content_type=client.MERGE_PATCH,
            verb="patch",
        )
        self._written = after
        return True


_current_writer: contextvars.ContextVar[StatusWriter] = contextvars.ContextVar("status_writer")


async def write_status(status: Any) -> bool:
    """Patch the status of the object being reconciled now, not only when the run ends.

    For a step that must not go on until something is durable: kill -9 right
    after this returns leaves ``status`` on the server. Only inside a reconcile
    the skeleton runs (it binds the writer for that run, task-locally, as log
    context is bound); ``RuntimeError`` elsewhere. ``KubeError`` when the patch
    fails. True when a request was sent (False: nothing changed).
    """
    writer = _current_writer.get(None)
    if writer is None:
        raise RuntimeError("write_status outside a reconcile run by the skeleton")
    return await writer.write(status)


class Skeleton:
    """Runs one reconcile of one object of a kind (see the module docstring)."""

    def __init__(
        self,
        *,
        api: client.Client,
        resource: resources.Resource,
        reconciler: Reconciler,
        recorder: events.Recorder,
    ) -> None:
        self._api = api
        self._resource = resource
        self._reconciler = reconciler
        self._recorder = recorder

    def _path(self, raw: dict[str, Any], subresource: str | None = None) -> str:
        metadata = raw["metadata"]
        return self._resource.path(
            namespace=metadata.get("namespace"), name=metadata["name"], subresource=subresource
        )

    async def _patch_metadata(self, raw: dict[str, Any], finalizers: list[str]) -> dict[str, Any]:
        # NB: the resourceVersion precondition makes a concurrent finalizer
        # change fail with a Conflict (retried) instead of being overwritten.
        body = {
            "metadata": {
                "finalizers": finalizers or None,
                "resourceVersion": raw["metadata"]["resourceVersion"],
            }
        }
        updated: dict[str, Any] = await self._api.request(
            "PATCH", self._path(raw), body=body, content_type=client.MERGE_PATCH, verb="patch"
        )
        return updated

    async def run(self, raw: dict[str, Any]) -> Outcome:
        """Reconcile ``raw`` (an object as read from the cache)."""
        kind = self._reconciler.kind
        metadata = raw.get("metadata", {})
        try:
            obj = kind.model_validate(raw)
        except pydantic.ValidationError as invalid:
            message = f"invalid {kind.crd.kind}: {invalid}"
            logging.get_logger().error("object is invalid", error=message)
            await self._recorder.emit(
                raw, type_=events.WARNING, reason=meta.FAILED_REASON, message=message
            )
            return Outcome(requeue=results.Requeue(after=None), error=invalid)
        finalizers = list(metadata.get("finalizers") or [])
        if metadata.get("deletionTimestamp"):
            if meta.FINALIZER in finalizers:
                try:
                    await self._reconciler.finalize(obj)
                    finalizers.remove(meta.FINALIZER)
                    await self._patch_metadata(raw, finalizers)
                except (results.ReconcileError, errors.KubeError) as error:
                    return Outcome(requeue=results.requeue(error, interval=None), error=error)
            return Outcome(requeue=results.Requeue(after=None))
        if meta.FINALIZER not in finalizers:
            try:
                raw = await self._patch_metadata(raw, [*finalizers, meta.FINALIZER])
            except errors.KubeError as error:
                return Outcome(requeue=results.requeue(error, interval=None), error=error)
            obj = kind.model_validate(raw)
        return await self._reconcile(raw, obj)

    async def _reconcile(self, raw: dict[str, Any], obj: Any) -> Outcome:
        status_model = type(obj).model_fields["status"].annotation
        status_cls = next(
            (a for a in getattr(status_model, "__args__", (status_model,)) if a is not type(None)),
        )
        if obj.status is None:
            obj.status = status_cls()
        writer = StatusWriter(
            api=self._api, path=self._path(raw, "status"), written=objects.dump(obj.status)
        )
        generation = obj.metadata.generation
        requested = (obj.metadata.annotations or {}).get(meta.RECONCILE_REQUEST_ANNOTATION)
        if requested is not None and "last_handled_reconcile_at" in status_cls.model_fields:
            obj.status.last_handled_reconcile_at = requested
        error: BaseException | None = None
        if getattr(obj.spec, "suspend", None):
            logging.get_logger().info("reconciliation is suspended for this object")
            obj.status.conditions = conditions.delete(obj.status.conditions, meta.STALLED)
            if obj.status.conditions:
                obj.status.observed_generation = generation
            patched = await writer.write(obj.status)
            return Outcome(requeue=results.Requeue(after=None), patched_status=patched)
        obj.status.conditions = conditions.start(
            obj.status.conditions,
            generation=generation,
            observed_generation=getattr(obj.status, "observed_generation", None),
        )
        success_message: str | None = None
        bound = _current_writer.set(writer)
        try:
            success_message = await self._reconciler.reconcile(obj)
        except (results.ReconcileError, errors.KubeError) as failure:
            error = failure
        except Exception as failure:  # a bug in a step: report it, retry with backoff
            logging.get_logger().exception("reconcile failed unexpectedly")
            error = results.ReconcileError(f"unexpected error: {failure}")
        finally:
            _current_writer.reset(bound)
            reason, message = _reason_and_message(error)
            summarized = conditions.summarize(
                obj.status.conditions,
                summary=self._reconciler.summary,
                outcome=results.outcome_of(error),
                generation=generation,
                error_reason=reason,
                error_message=message,
                success_message=success_message,
            )
            obj.status.conditions = summarized.conditions
            if summarized.observe_generation and hasattr(obj.status, "observed_generation"):
                obj.status.observed_generation = generation
            patched = False
            try:
                patched = await writer.write(obj.status)
            except errors.KubeError as patch_error:
                error = error or patch_error
        if error is not None:
            await self._recorder.emit(
                raw,
                type_=events.WARNING,
                reason=reason or meta.FAILED_REASON,
                message=message or "",
            )
        interval = self._reconciler.interval(obj)
        return Outcome(
            requeue=results.requeue(error, interval=interval), patched_status=patched, error=error
        )


def _reason_and_message(error: BaseException | None) -> tuple[str | None, str | None]:
    if error is None:
        return None, None
    if isinstance(error, results.ReconcileError):
        return error.reason, error.message
    if isinstance(error, errors.KubeError):
        return meta.FAILED_REASON, error.message
    return meta.FAILED_REASON, str(error)
