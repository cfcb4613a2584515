"""The Kustomization health step: wait until what was applied is healthy.

With ``spec.wait`` every applied object is checked, else the objects
``spec.healthChecks`` names; kstatus rules decide, extended by
``spec.healthCheckExprs`` (CEL). The wait shows progress ("Running health
checks for revision R with a timeout of T") and sets the Healthy condition:
True with the time it took, or False with ``HealthCheckFailed`` (retried),
or removed when there is nothing to check. An invalid expression stalls.
"""

from __future__ import annotations

import time

from shared.api import kustomize, meta, objects
from shared.kube import healthexprs, inventory, resourcemanager, waiting
from shared.runtime import reconciling, results

HEALTHY_SUCCEEDED_REASON = meta.SUCCEEDED_REASON

Run = reconciling.Run[kustomize.Kustomization, kustomize.KustomizationStatus]


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
) -> str | None:
    """Wait for health when asked to; returns the Healthy message (None: not checked)."""
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
    run.progress(
        f"Running health checks for revision {revision} "
        f"with a timeout of {meta.format_duration(timeout)}"
    )
    started = time.monotonic()
    try:
        await manager.wait(
            refs,
            interval=min(2.0, timeout),
            within=timeout,
            readers=(checks.read,) if checks else (),
        )
    except waiting.WaitError as failed:
        run.mark(
            meta.HEALTHY, "False", reason=meta.HEALTH_CHECK_FAILED_REASON, message=failed.message
        )
        raise results.WaitingError(
            failed.message, reason=meta.HEALTH_CHECK_FAILED_REASON, requeue_after=retry_after
        ) from failed
    message = f"Health check passed in {meta.format_duration(time.monotonic() - started)}"
    run.mark(meta.HEALTHY, "True", reason=HEALTHY_SUCCEEDED_REASON, message=message)
    return message
