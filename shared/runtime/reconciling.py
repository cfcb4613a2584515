"""The reconcile skeleton every kind shares, and how a reconciler declares its steps.

For one object: parse it into its model → handle deletion (the reconciler's
``finalize``, then remove the finalizer) → add the finalizer (or, with
``lazy_finalizer``, leave that to the step about to write the first object
the finalizer protects: ``Run.add_finalizer``) → honour
``spec.suspend`` → mark Reconciling → run the reconciler's ``steps`` in order
→ summarize (Ready, Reconciling, Stalled, observedGeneration) and patch the
status, in a ``finally``, only when it changed → log and record a failure →
decide the requeue from the error kind.

A reconciler (``Reconciler``) is data as much as code: its kind, its status
class, its summary, its ``run_type`` (the per-reconcile state its steps
share, a ``Run`` subclass) and its ordered ``steps``. Every step has one
signature, ``async (run) -> None``; it changes ``run.status`` (its own
conditions, declared in ``Step.owns``, and fields) and raises
``results.ReconcileError`` subclasses on failure. A step never writes Ready,
Reconciling, Stalled or observedGeneration; the skeleton refuses a step that
changes a condition it does not own. ``reconcile.fluxcd.io/requestedAt`` is
echoed into ``status.lastHandledReconcileAt``.

Progress (``Run.progress``): a step about to do something slow (fetch a new
revision, wait for health) says so; the skeleton writes it — Reconciling=True
with the step's message and, for a new generation or revision, Ready=Unknown
"Reconciliation in progress" — only if the run is still in that phase after
``progress_delay`` seconds. A run that finishes quickly pays no extra write.
Progress is advisory: it is sent only with a spare rate-limit token
(``Client.request(advisory=True)``), so under load it never delays a write
that must be made; a note not sent is tried again after another delay while
the run lasts.

A new request for the object while it is being reconciled (its key enqueued
again: a new source revision, a spec change, ``requestedAt``) fires the run's
``Interrupt`` (``Run.interrupt``); a step that waits long may end early on it
(kustomize-controller's health checks, with ``CancelHealthCheckOnNewRevision``).

A step that must make something durable before it goes on (a write-ahead
record) calls ``Run.write_status``: the status is patched at once, and the
final patch then carries only what changed after it (``StatusWriter``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar, Generic, Literal, Protocol, Self, TypeVar

import pydantic

from shared.api import meta, objects, status
from shared.kube import client, errors, resources
from shared.runtime import conditions, events, logging, results

PROGRESS_DELAY = 1.0
"""Seconds a phase may last before its progress is written to the status."""
IN_PROGRESS_MESSAGE = "Reconciliation in progress"
SKELETON_CONDITIONS = frozenset({meta.READY, meta.RECONCILING, meta.STALLED})


class Kind(Protocol):
    """What the skeleton needs of a reconciled kind's model."""

    crd: ClassVar[objects.CrdInfo]
    metadata: objects.ObjectMeta
    spec: Any
    status: Any

    @classmethod
    def model_validate(cls, obj: Any) -> Self: ...


K = TypeVar("K", bound=Kind)
S = TypeVar("S", bound=status.ObjectStatus)
S_co = TypeVar("S_co", bound=status.ObjectStatus, covariant=True)


class Interrupt:
    """A new request to reconcile an object whose reconcile is in flight.

    The controller ``fire``s it when the object's key is enqueued again
    during the run, naming what asked (``Kind/namespace/name``); it fires
    once, and a run that never sees it is not disturbed.
    """

    def __init__(self) -> None:
        self._fired = asyncio.Event()
        self.trigger = ""
        """``Kind/namespace/name`` of the object whose change asked (set when fired)."""

    def fire(self, trigger: str) -> None:
        if not self._fired.is_set():
            self.trigger = trigger
            self._fired.set()

    async def wait(self) -> str:
        """Until fired; the trigger."""
        await self._fired.wait()
        return self.trigger


@dataclasses.dataclass(eq=False, kw_only=True)
class Run(Generic[K, S]):
    """One reconcile of one object: what its steps read and change.

    A reconciler subclasses it to carry what one step hands the next (the
    artifact, the build …), as ``dataclasses.field(init=False)`` fields that
    the producing step sets.
    """

    obj: K
    status: S
    """``obj.status``, never None during a run."""
    tracker: ProgressTracker
    ready_message: str | None = None
    """The Ready message on success (set by the step that knows it)."""
    revision: str | None = None
    """The revision being reconciled, for the failure log."""
    event_metadata: dict[str, str] = dataclasses.field(default_factory=dict)
    """Metadata of the failure event (Flux's ``revision``, ``originRevision``)."""
    riders: list[Callable[[S], None]] = dataclasses.field(default_factory=list)
    """Status changes not worth a write of their own (counters): the final
    write applies them only when it sends a patch for another change."""
    interrupt: Interrupt = dataclasses.field(default_factory=Interrupt)
    """Fired when the object is asked to reconcile again during this run."""

    @property
    def generation(self) -> int | None:
        return self.obj.metadata.generation

    def mark(
        self, type_: str, status: Literal["True", "False", "Unknown"], *, reason: str, message: str
    ) -> None:
        """Set condition ``type_`` for this generation (a step sets only those it owns)."""
        self.status.conditions = conditions.set_condition(
            self.status.conditions,
            type_=type_,
            status=status,
            reason=reason,
            message=message,
            generation=self.generation,
        )

    def delete(self, *types: str) -> None:
        for type_ in types:
            self.status.conditions = conditions.delete(self.status.conditions, type_)

    def progress(self, message: str, *, restart: bool = False) -> None:
        """Reconciling=True with ``message``; written if this phase outlasts the delay.

        ``restart``: a new generation or revision began, so Ready becomes
        Unknown "Reconciliation in progress" when the progress is written.
        """
        self.tracker.update(self, message, restart=restart)

    async def add_finalizer(self) -> None:
        """Make sure the object carries ``finalizers.fluxcd.io`` (one metadata patch if not).

        For a skeleton with ``lazy_finalizer``: the step that is about to
        create what ``finalize`` must clean up calls it first, so the
        finalizer also marks "this object may own something". ``KubeError``
        when the patch fails (a concurrent change or deletion: a Conflict).
        """
        await self.tracker.add_finalizer()

    async def write_status(self) -> bool:
        """Patch ``status`` on the server now, not only when the run ends.

        For a step that must not go on until something is durable: kill -9
        right after this returns leaves ``status`` on the server. ``KubeError``
        when the patch fails; True when a request was sent (False: nothing
        changed since the last write).
        """
        return await self.tracker.write_now(self)


R = TypeVar("R", bound=Run[Any, Any])


@dataclasses.dataclass(frozen=True)
class Step(Generic[R]):
    """One step of a reconcile: a name, the function, the conditions it owns."""

    name: str
    run: Callable[[R], Awaitable[None]]
    owns: tuple[str, ...] = ()


class Reconciler(Protocol[K, S_co, R]):
    """What a kind's reconciler provides to the skeleton (see the module docstring)."""

    @property
    def kind(self) -> type[K]: ...

    @property
    def status_type(self) -> type[S_co]: ...

    @property
    def run_type(self) -> Callable[..., R]:
        """Builds the per-reconcile state: ``run_type(obj=, status=, tracker=, interrupt=)``."""
        ...

    @property
    def summary(self) -> conditions.Summary: ...

    @property
    def steps(self) -> Sequence[Step[R]]: ...

    async def finalize(self, obj: K) -> None:
        """Clean up before the object is deleted (storage, applied objects …)."""
        ...

    def interval(self, obj: K) -> float:
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
    back too. Writes are serialized (a progress write and a step's write may
    overlap), so each patch is computed against the one before it.
    """

    def __init__(self, *, api: client.Client, path: str, written: dict[str, Any]) -> None:
        self._api = api
        self._path = path
        self._written = written
        self.lock = asyncio.Lock()
        """Held while a patch of this object is computed and sent (one at a time)."""
        self.resource_version: str | None = None
        """The object's resourceVersion after the newest patch sent (None before one)."""

    async def write(
        self,
        current: S,
        *,
        riders: Sequence[Callable[[S], None]] = (),
        advisory: bool = False,
    ) -> bool:
        """Patch the difference; False (no request) when there is none.

        ``riders`` change ``current`` only when a patch is sent anyway. An
        ``advisory`` write (progress) raises ``ThrottledError`` instead of
        waiting for the rate limit (``Client.request``).
        """
        async with self.lock:
            after = objects.dump(current)
            if after == self._written:
                return False
            for rider in riders:
                rider(current)
            after = objects.dump(current)
            answer = await self._api.request(
                "PATCH",
                self._path,
                body={"status": status_merge_patch(self._written, after)},
                content_type=client.MERGE_PATCH,
                verb="patch",
                advisory=advisory,
            )
            self._written = after
            if isinstance(answer, dict):
                self.resource_version = answer.get("metadata", {}).get("resourceVersion")
            return True


class ProgressTracker:
    """Writes a run's progress when a phase outlasts ``delay`` (see the module docstring)."""

    def __init__(
        self,
        *,
        writer: StatusWriter,
        delay: float,
        finalizer: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._writer = writer
        self._delay = delay
        self._finalizer = finalizer
        self._timer: asyncio.Task[None] | None = None
        self._writing = False
        self._restart = False
        self.writes = 0

    def update(self, run: Run[Any, Any], message: str, *, restart: bool) -> None:
        run.mark(meta.RECONCILING, "True", reason=meta.PROGRESSING_REASON, message=message)
        self._restart = self._restart or restart
        if self._timer is None or self._timer.done():
            self._timer = asyncio.create_task(self._write_later(run))

    async def _write_later(self, run: Run[Any, Any]) -> None:
        while True:
            await asyncio.sleep(self._delay)
            self._writing = True
            try:
                if self._restart:
                    run.mark(
                        meta.READY,
                        "Unknown",
                        reason=meta.PROGRESSING_REASON,
                        message=IN_PROGRESS_MESSAGE,
                    )
                if await self._writer.write(run.status, advisory=True):
                    self.writes += 1
                return
            except errors.ThrottledError:
                continue  # NB: the client is busy with writes that count; try again later
            except errors.KubeError as failed:
                # NB: progress is advisory; the final status patch reports what counts.
                logging.get_logger().info("progress not written", error=failed.message)
                return
            finally:
                self._writing = False

    async def add_finalizer(self) -> None:
        """``Run.add_finalizer``: nothing when the skeleton added it before the steps."""
        if self._finalizer is not None:
            await self._finalizer()

    async def write_now(self, run: Run[Any, Any]) -> bool:
        """Write ``run.status`` at once (``Run.write_status``)."""
        written = await self._writer.write(run.status)
        self.writes += written
        return written

    async def stop(self) -> None:
        """Cancel a pending write; let one already on the wire finish."""
        timer, self._timer = self._timer, None
        if timer is None:
            return
        if not self._writing:
            timer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await timer


class Skeleton(Generic[K, S, R]):
    """Runs one reconcile of one object of a kind (see the module docstring)."""

    def __init__(
        self,
        *,
        api: client.Client,
        resource: resources.Resource,
        reconciler: Reconciler[K, S, R],
        recorder: events.Recorder,
        progress_delay: float = PROGRESS_DELAY,
        jitter: float = 0.05,
        lazy_finalizer: bool = False,
    ) -> None:
        """``lazy_finalizer``: the finalizer is added by ``Run.add_finalizer``, not up front."""
        self._api = api
        self._lazy_finalizer = lazy_finalizer
        self._resource = resource
        self._reconciler = reconciler
        self._recorder = recorder
        self._progress_delay = progress_delay
        # ``--interval-jitter-percentage`` / 100: a success requeues after interval ± this.
        self._jitter = jitter
        owned = {t for step in reconciler.steps for t in step.owns}
        if owned != set(reconciler.summary.owned):
            listed = sorted(reconciler.summary.owned)
            raise ValueError(
                f"the summary of {reconciler.kind.crd.kind} lists {listed}"
                f" but its steps own {sorted(owned)}"
            )

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

    def _finalizer_adder(
        self, raw: dict[str, Any], writer: StatusWriter
    ) -> Callable[[], Awaitable[None]]:
        """``Run.add_finalizer`` for one run of a ``lazy_finalizer`` skeleton."""
        finalizers = list(raw["metadata"].get("finalizers") or [])

        async def add() -> None:
            if meta.FINALIZER in finalizers:
                return
            # NB: a status write of this run changed the resourceVersion; the
            # precondition must be the newest version, or it fails for nothing.
            async with writer.lock:
                version = writer.resource_version or raw["metadata"]["resourceVersion"]
                current = {**raw, "metadata": {**raw["metadata"], "resourceVersion": version}}
                patched = await self._patch_metadata(current, [*finalizers, meta.FINALIZER])
                writer.resource_version = patched["metadata"]["resourceVersion"]
            finalizers.append(meta.FINALIZER)

        return add

    async def run(self, raw: dict[str, Any], *, interrupt: Interrupt | None = None) -> Outcome:
        """Reconcile ``raw`` (an object as read from the cache).

        ``interrupt``: fired by the controller when the key is enqueued during the run.
        """
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
                    why, what = _reason_and_message(error)
                    await self._failed(raw, why or meta.FAILED_REASON, what or "")
                    return Outcome(requeue=results.requeue(error, interval=None), error=error)
            return Outcome(requeue=results.Requeue(after=None))
        if meta.FINALIZER not in finalizers and not self._lazy_finalizer:
            try:
                raw = await self._patch_metadata(raw, [*finalizers, meta.FINALIZER])
            except errors.KubeError as error:
                await self._failed(raw, meta.FAILED_REASON, error.message)
                return Outcome(requeue=results.requeue(error, interval=None), error=error)
            obj = kind.model_validate(raw)
        return await self._reconcile(raw, obj, interrupt or Interrupt())

    async def _reconcile(self, raw: dict[str, Any], obj: K, interrupt: Interrupt) -> Outcome:
        current: S = obj.status if obj.status is not None else self._reconciler.status_type()
        obj.status = current
        writer = StatusWriter(
            api=self._api, path=self._path(raw, "status"), written=objects.dump(current)
        )
        generation = obj.metadata.generation
        requested = (obj.metadata.annotations or {}).get(meta.RECONCILE_REQUEST_ANNOTATION)
        if requested is not None:
            current.last_handled_reconcile_at = requested
        if obj.spec.suspend:
            logging.get_logger().info("reconciliation is suspended for this object")
            current.conditions = conditions.delete(current.conditions, meta.STALLED)
            if current.conditions:
                current.observed_generation = generation
            patched = await writer.write(current)
            return Outcome(requeue=results.Requeue(after=None), patched_status=patched)
        new_generation = current.observed_generation not in (None, generation)
        current.conditions = conditions.start(
            current.conditions,
            generation=generation,
            observed_generation=current.observed_generation,
        )
        tracker = ProgressTracker(
            writer=writer,
            delay=self._progress_delay,
            finalizer=self._finalizer_adder(raw, writer) if self._lazy_finalizer else None,
        )
        run = self._reconciler.run_type(
            obj=obj, status=current, tracker=tracker, interrupt=interrupt
        )
        reconciling = conditions.get(current.conditions, meta.RECONCILING)
        ready = conditions.get(current.conditions, meta.READY)
        if reconciling is not None and (
            new_generation or ready is None or ready.status == "Unknown"
        ):
            run.progress(reconciling.message, restart=True)
        error: BaseException | None = None
        try:
            await self._steps(run)
        except (results.ReconcileError, errors.KubeError) as failure:
            error = failure
        except Exception as failure:  # a bug in a step: report it, retry with backoff
            logging.get_logger().exception("reconcile failed unexpectedly")
            error = _Logged(f"unexpected error: {failure}")
        finally:
            await tracker.stop()
            reason, message = _reason_and_message(error)
            summarized = conditions.summarize(
                current.conditions,
                summary=self._reconciler.summary,
                outcome=results.outcome_of(error),
                generation=generation,
                error_reason=reason,
                error_message=message,
                success_message=run.ready_message,
            )
            current.conditions = summarized.conditions
            if summarized.observe_generation:
                current.observed_generation = generation
            patched = tracker.writes > 0
            try:
                patched = await writer.write(current, riders=run.riders) or patched
            except errors.KubeError as patch_error:
                error = error or patch_error
                reason, message = _reason_and_message(error)
        if isinstance(error, results.WaitingError) and error.notice is not None:
            await self._recorder.emit(
                raw,
                type_=events.NORMAL,
                reason=reason or meta.FAILED_REASON,
                message=error.notice,
                metadata=run.event_metadata or None,
            )
        elif error is not None and not (
            isinstance(error, results.ReconcileError) and error.announced
        ):
            await self._failed(
                raw,
                reason or meta.FAILED_REASON,
                message or "",
                revision=run.revision,
                metadata=run.event_metadata or None,
                # NB: a wait that is a failure (BuildFailed, HealthCheckFailed …)
                # is logged like any other; an expected wait carries a notice and
                # took the branch above; an unexpected error was already logged
                # with its traceback where it was caught.
                log=not isinstance(error, _Logged),
            )
        interval = self._reconciler.interval(obj)
        return Outcome(
            requeue=results.requeue(error, interval=interval, jitter=self._jitter),
            patched_status=patched,
            error=error,
        )

    async def _steps(self, run: R) -> None:
        for step in self._reconciler.steps:
            before = _condition_states(run.status)
            try:
                with logging.bound(**({"revision": run.revision} if run.revision else {})):
                    await step.run(run)
            finally:
                changed = {
                    type_
                    for type_ in before.keys() | _condition_states(run.status).keys()
                    if before.get(type_) != _condition_states(run.status).get(type_)
                }
                foreign = changed - SKELETON_CONDITIONS - set(step.owns)
                if foreign:
                    raise results.ReconcileError(
                        f"step '{step.name}' changed conditions it does not own: {sorted(foreign)}"
                    )

    async def _failed(
        self,
        raw: dict[str, Any],
        reason: str,
        message: str,
        *,
        revision: str | None = None,
        metadata: dict[str, str] | None = None,
        log: bool = True,
    ) -> None:
        """A failed reconcile: one error log line (as Flux logs it) and a Warning event."""
        if log:
            identity = raw.get("metadata", {})
            kind = self._reconciler.kind.crd.kind
            logging.get_logger().error(
                "Reconciliation failed",
                object=f"{kind}/{identity.get('namespace')}/{identity.get('name')}",
                reason=reason,
                message=message,
                revision=revision,
            )
        await self._recorder.emit(
            raw, type_=events.WARNING, reason=reason, message=message, metadata=metadata
        )


def _condition_states(current: status.ObjectStatus) -> dict[str, tuple[str, str, str]]:
    return {c.type: (c.status, c.reason, c.message) for c in current.conditions or ()}


class _Logged(results.ReconcileError):
    """A failure already logged with its traceback where it was caught."""


def _reason_and_message(error: BaseException | None) -> tuple[str | None, str | None]:
    if error is None:
        return None, None
    if isinstance(error, results.ReconcileError):
        return error.reason, error.message
    if isinstance(error, errors.KubeError):
        return meta.FAILED_REASON, error.message
    return meta.FAILED_REASON, str(error)
