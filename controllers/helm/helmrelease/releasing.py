"""The atomic release: Flux's loop from the stored release to the next action, and on.

``run`` repeats: read the release's revisions from storage, ``state.determine``
its state, ``state.decide`` the next action, run it (``acting``) — until
nothing is left to do, an action of a kind already run this reconcile comes
up again, or a remediation ran. Before each action the status is written
(``Run.write_status``: the attempt, its counters and Reconciling "Running
'upgrade' action with timeout of 5m0s") so that a process killed mid-action
leaves a status the next run can continue from; the release it leaves
pending is unlocked then.

How it ends (Flux's ``AtomicRelease``):

- nothing to do: success, Ready from the release conditions;
- an action failed without storing anything, or must be retried: under
  ``RetryOnFailure`` a wait of ``retryInterval``; otherwise a retry with
  backoff (the action announced its failure itself);
- a remediation ran, or the next action repeats one: retried with backoff
  while retries remain; Stalled ``RetriesExceeded`` once they are exhausted;
- ``state.RefusedError`` (retries exhausted, no rollback target): Stalled.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from controllers.helm import remediation, snapshots, state
from controllers.helm.engine import failures, records
from controllers.helm.helmrelease import acting, correcting
from shared.api import helm, meta
from shared.runtime import conditions, logging, reconciling, results

Drift = Callable[[records.ReleaseRecord], Awaitable[Sequence[str]]]
"""The drift lines of a deployed revision (empty: in sync)."""
CorrectDrift = Callable[[records.ReleaseRecord], Awaitable[None]]
"""Re-apply the drifted objects of a revision and report it (an event either way)."""

Cached = Callable[[], Awaitable[list[records.ReleaseRecord] | None]]
"""The revisions from a watch cache when it has caught up, else None."""


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How a loop that finished without an error went."""

    acted: bool
    """At least one action ran."""
    stored: list[records.ReleaseRecord]
    """The release's revisions as last read from storage."""


@dataclasses.dataclass(kw_only=True)
class Loop:
    """One reconcile's release loop: the request and what the loop needs besides it."""

    req: acting.Request
    run: reconciling.Run[Any, Any]
    desired: state.Desired
    drift: Drift
    correct_drift: CorrectDrift
    force: bool
    cached: Cached | None = None
    """The revisions from a watch cache, for the first look only (``caching``)."""


def _retry_interval(loop: Loop) -> float | None:
    return remediation.active_retry(loop.req.obj, default_to_retry=loop.req.default_to_retry)


def _verdict(status: helm.HelmReleaseStatus) -> tuple[str, str]:
    """The reason and message Ready will show (Flux's ``summarize`` order)."""
    for type_, failing in (
        (helm.REMEDIATED_CONDITION, "True"),
        (helm.TEST_SUCCESS_CONDITION, "False"),
        (helm.RELEASED_CONDITION, "False"),
    ):
        found = conditions.get(status.conditions, type_)
        if found is not None and found.status == failing:
            return found.reason, found.message
    return meta.PROGRESSING_WITH_RETRY_REASON, "reconciliation will be retried"


def _retry_later(loop: Loop, interval: float) -> results.WaitingError:
    message = f"retrying after {meta.format_duration(interval)}"
    loop.run.progress(message)
    reason, why = _verdict(loop.req.status)
    return results.WaitingError(why, reason=reason, requeue_after=interval, announced=True)


def _requeue(loop: Loop) -> results.ReconcileError:
    reason, why = _verdict(loop.req.status)
    loop.run.progress(why)
    return results.ReconcileError(why, reason=reason, announced=True)


def _exhausted(loop: Loop) -> results.StallingError:
    return results.StallingError(
        state.exhausted_message(loop.req.obj), reason=helm.RETRIES_EXCEEDED_REASON
    )


async def _stored(loop: Loop, *, first: bool) -> list[records.ReleaseRecord]:
    """The release's revisions: from the cache on the first look when it has caught up.

    After an action the storage itself is read (the watch may not have seen
    the action's writes yet), or reused as the action's record just read it.
    """
    if first and loop.cached is not None:
        cached = await loop.cached()
        if cached is not None:
            return cached
    recorded, loop.req.stored = loop.req.stored, None
    if recorded is not None:
        return recorded
    try:
        return await loop.req.store.history(loop.req.release_name)
    except failures.StorageError as failed:
        raise results.ReconcileError(
            f"Could not determine release state: {failed.message}",
            reason=helm.STATE_ERROR_REASON,
        ) from failed


def _rollback_check(stored: Sequence[records.ReleaseRecord]) -> state.RollbackCheck:
    def check(target: helm.Snapshot | None) -> Any:
        if target is None:
            return "missing"
        found = next((r for r in stored if r.version == target.version), None)
        if found is None:
            return "corrupt"
        if target.api_version == snapshots.API_VERSION and target.digest != found.digest(
            oci_digest=target.oci_digest or ""
        ):
            return "corrupt"
        return "ok"

    return check


async def _determine(loop: Loop, *, first: bool) -> tuple[state.State, list[records.ReleaseRecord]]:
    stored = await _stored(loop, first=first)
    last = stored[-1] if stored else None
    lines: Sequence[str] = ()
    if (
        last is not None
        and last.status == records.Status.DEPLOYED
        and remediation.drift_mode(loop.req.obj.spec) != "disabled"
    ):
        try:
            lines = await loop.drift(last)
        except failures.EngineError as failed:
            raise results.ReconcileError(
                f"Could not determine release state: unable to determine cluster state: "
                f"{failed.message}",
                reason=helm.STATE_ERROR_REASON,
            ) from failed
    found = state.determine(loop.req.obj, last, loop.desired, drift=lambda: lines)
    return found, stored


async def _act(loop: Loop, action: state.Action, stored: Sequence[records.ReleaseRecord]) -> None:
    req = loop.req
    match action:
        case state.Action.INSTALL:
            await acting.install(req, stored=stored)
        case state.Action.UPGRADE:
            await acting.upgrade(req)
        case state.Action.TEST:
            await acting.test(req)
        case state.Action.ROLLBACK:
            await acting.rollback(req)
        case state.Action.UNINSTALL:
            await acting.uninstall_remediation(req)
        case state.Action.UNLOCK:
            await acting.unlock(req, stored[-1])
        case state.Action.CORRECT_DRIFT:
            await loop.correct_drift(stored[-1])


def _observe_digests(loop: Loop) -> None:
    """The post-renderers and common-metadata digests acted upon (Flux's ``summarize``)."""
    loop.req.status.observed_post_renderers_digest = loop.desired.post_renderers_digest
    loop.req.status.observed_common_metadata_digest = loop.desired.common_metadata_digest


async def run(loop: Loop) -> Outcome:
    """Release until done (see the module docstring); raises a ``results`` error to stop."""
    obj, status = loop.req.obj, loop.req.status
    done: set[state.Kind] = set()
    log = logging.get_logger()
    while True:
        found, stored = await _determine(loop, first=not done)
        try:
            decision = state.decide(
                obj,
                found,
                force=loop.force,
                default_to_retry=loop.req.default_to_retry,
                rollback_check=_rollback_check(stored),
            )
        except state.RefusedError as refused:
            if refused.reason == helm.RETRIES_EXCEEDED_REASON:
                raise _exhausted(loop) from refused
            raise results.StallingError(refused.message, reason=refused.reason) from refused
        if found.status == state.Status.DRIFTED:
            await correcting.announce(loop.req, found.drift)
        log.info(decision.log, state=str(found.status))
        action = decision.action
        if action is None:
            _observe_digests(loop)
            return Outcome(acted=bool(done), stored=stored)
        kind = state.KIND_OF[action]
        if kind in done:
            interval = _retry_interval(loop)
            if interval is not None:
                raise _retry_later(loop, interval)
            active = remediation.active(obj)
            if active is None or not active.exhausted(status):
                raise _requeue(loop)
            return Outcome(acted=True, stored=stored)
        timeout = meta.format_duration(state.timeout_of(obj, action))
        message = f"Running '{action}' action with timeout of {timeout}"
        loop.run.progress(message, restart=kind == state.Kind.RELEASE)
        await loop.run.write_status()
        if kind == state.Kind.RELEASE:
            loop.force = False
        log.info(f"running '{action}' action with timeout of {timeout}")
        try:
            await _act(loop, action, stored)
        except acting.ActionError as failed:
            interval = _retry_interval(loop)
            if interval is not None:
                raise _retry_later(loop, interval) from failed
            raise results.ReconcileError(
                failed.message, reason=failed.reason, announced=True
            ) from failed
        finally:
            _observe_digests(loop)
        if kind == state.Kind.REMEDIATE:
            interval = _retry_interval(loop)
            if interval is not None:
                raise _retry_later(loop, interval)
            active = remediation.active(obj)
            if active is None or not active.exhausted(status) or active.uninstall_after_upgrade:
                raise _requeue(loop)
            raise _exhausted(loop)
        done.add(kind)
        await loop.run.write_status()
