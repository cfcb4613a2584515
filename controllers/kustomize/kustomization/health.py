"""The Kustomization health step: wait until what was applied is healthy.

With ``spec.wait`` every applied object is checked, else the objects
``spec.healthChecks`` names; kstatus rules decide, extended by
``spec.healthCheckExprs`` (CEL). The wait shows progress ("Running health
checks for revision R with a timeout of T") and sets the Healthy condition:
True with the time it took, or False with ``HealthCheckFailed`` (retried),
or removed when there is nothing to check. An invalid expression stalls.

With ``cancel_on_request`` (the ``CancelHealthCheckOnNewRevision`` gate) the
wait ends as soon as the Kustomization is asked to reconcile again — a new
source revision, a spec change, a watched ConfigMap or Secret
(``reconciling.Interrupt``) — with ``CanceledError``: Ready=False
``HealthCheckCanceled`` "New reconciliation triggered by Kind/ns/name", an
Info event, and an immediate requeue, as in Flux, so a fix pushed for a
failing rollout is applied without waiting out the timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable

from shared.api import kustomize, meta, objects
from shared.kube import healthexprs, inventory, resourcemanager, waiting
from shared.runtime import reconciling, results

HEALTHY_SUCCEEDED_REASON = meta.SUCCEEDED_REASON

Run = reconciling.Run[kustomize.Kustomization, kustomize.KustomizationStatus]


class CanceledError(results.WaitingError):
    """The health checks were cut short by a new request to reconcile."""


async def _until_interrupted(wait: Awaitable[object], interrupt: reconciling.Interrupt) -> str:
    """``wait`` to its end (""), or until ``interrupt`` fires: its trigger, ``wait`` cancelled."""
    waiting_task = asyncio.ensure_future(wait)
    fired = asyncio.ensure_future(interrupt.wait())
    try:
        await asyncio.wait({waiting_task, fired}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (waiting_task, fired):
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    if waiting_task.cancelled():
        return interrupt.trigger
    waiting_task.result()  # NB: raises the wait's own failure
    return ""


def _refs(obj: kustomize.Kustomization, applied: list[inventory.Ref]) -> list[inventory.Ref]:
    if obj.spec.wait:
        return applied
    return [
        inventory.Ref(
            group=(check.api_version or "").rpartition("/")[0],
            kind=check.kind,
            namespace=check.namespace or obj.metadata.namespace or "",
            name=check.name,
            version=(check.api_version or "").rpartition("/")[2],
        )
        for check in obj.spec.health_checks or []
    ]


async def check(
    run: Run,
    *,
    manager: resourcemanager.ResourceManager,
    applied: list[inventory.Ref],
    revision: str,
    retry_after: float,
    cancel_on_request: bool = False,
) -> str | None:
    """Wait for health when asked to; returns the Healthy message (None: not checked).

    ``cancel_on_request``: end early when ``run.interrupt`` fires (``CanceledError``).
    """
    spec = run.obj.spec
    refs = _refs(run.obj, applied)
    if not refs:
        run.delete(meta.HEALTHY)
        return None
    try:
        checks = healthexprs.compile_checks(
            [objects.dump(c) for c in spec.health_check_exprs or []]
        )
    except healthexprs.InvalidExpressionError as invalid:
        raise results.StallingError(
            str(invalid), reason=meta.INVALID_CEL_EXPRESSION_REASON
        ) from invalid
    timeout = meta.parse_duration(spec.timeout or spec.interval).total_seconds()
    progress = (
        f"Running health checks for revision {revision} "
        f"with a timeout of {meta.format_duration(timeout)}"
    )
    run.progress(progress)
    started = time.monotonic()
    wait = manager.wait(
        refs,
        interval=min(2.0, timeout),
        within=timeout,
        readers=(checks.read,) if checks else (),
    )
    trigger = ""
    try:
        if cancel_on_request:
            trigger = await _until_interrupted(wait, run.interrupt)
        else:
            await wait
    except waiting.WaitError as failed:
        run.mark(
            meta.HEALTHY, "False", reason=meta.HEALTH_CHECK_FAILED_REASON, message=failed.message
        )
        raise results.WaitingError(
            failed.message, reason=meta.HEALTH_CHECK_FAILED_REASON, requeue_after=retry_after
        ) from failed
    if trigger:
        run.mark(meta.HEALTHY, "Unknown", reason=meta.PROGRESSING_REASON, message=progress)
        raise CanceledError(
            f"New reconciliation triggered by {trigger}",
            reason=meta.HEALTH_CHECK_CANCELED_REASON,
            requeue_after=0,
            notice=f"Health checks canceled due to new reconciliation triggered by {trigger}",
        )
    message = f"Health check passed in {meta.format_duration(time.monotonic() - started)}"
    run.mark(meta.HEALTHY, "True", reason=HEALTHY_SUCCEEDED_REASON, message=message)
    return message
