"""Drift of a release, reported and corrected as Flux's helm-controller does.

``announce`` is Flux's ``DriftDetected`` warning (the release and one line
per drifted object). ``correct`` re-applies the objects of the current
revision that drifted (``driftDetection.mode: enabled``) through the
engine's cluster access, with the release's field manager and origin
labels, and reports ``DriftCorrected`` (Normal) or ``DriftCorrectionFailed``
(Warning, ``partially`` when some objects were applied). A correction never
fails the reconcile: the next one detects what is still drifted.
"""

from __future__ import annotations

from collections.abc import Sequence

from controllers.helm import drifting, snapshots, state
from controllers.helm.engine import cluster as engine_cluster
from controllers.helm.engine import engine as engines
from controllers.helm.engine import records
from controllers.helm.helmrelease import acting, announcing, options
from shared.api import helm
from shared.kube import ignoring, inventory


async def announce(req: acting.Request, lines: Sequence[str]) -> None:
    """Flux's DriftDetected warning: the release and one line per drifted object."""
    await announcing.announce(
        req.recorder,
        req.obj,
        warning=True,
        reason=helm.DRIFT_DETECTED_REASON,
        message=state.drift_message(req.obj, lines),
        metadata=announcing.snapshot_metadata(acting.current_snapshot(req)),
    )


async def _report(req: acting.Request, *, changes: Sequence[str], error: str | None) -> None:
    """Flux's DriftCorrected (Normal) or DriftCorrectionFailed (Warning) event."""
    current = acting.current_snapshot(req)
    release = snapshots.full_release_name(current)
    metadata = announcing.snapshot_metadata(current)
    if error is not None:
        partially = "partially " if changes else ""
        message = f"Failed to {partially}correct cluster state of release {release}:\n{error}"
        await announcing.announce(
            req.recorder,
            req.obj,
            warning=True,
            reason="DriftCorrectionFailed",
            message=message,
            metadata=metadata,
        )
        return
    if changes:
        message = f"Cluster state of release {release} has been corrected:\n" + "\n".join(changes)
        await announcing.announce(
            req.recorder,
            req.obj,
            warning=False,
            reason="DriftCorrected",
            message=message,
            metadata=metadata,
        )


async def correct(
    req: acting.Request,
    engine: engines.Engine,
    record: records.ReleaseRecord,
    rules: ignoring.Rules,
) -> None:
    """Re-apply the drifted objects of ``record`` (Flux's ``CorrectClusterDrift``)."""
    desired = await engine.objects_of(record)
    drifted = []
    for obj in desired:
        live = await engine.cluster.manager.live(inventory.Ref.of(obj))
        if drifting.compare(obj, live, ignored=rules.pointers(obj)) is not None:
            drifted.append(obj)
    try:
        await engine.cluster.apply(
            drifted,
            origin=options.origin(req.obj),
            within=state.timeout_of(req.obj, state.Action.CORRECT_DRIFT),
            method=record.apply_method,
        )
    except engine_cluster.ClusterError as failed:
        await _report(req, changes=(), error=failed.message)
        return
    lines = [f"{drifting.describe(inventory.Ref.of(obj))} configured" for obj in drifted]
    await _report(req, changes=lines, error=None)
