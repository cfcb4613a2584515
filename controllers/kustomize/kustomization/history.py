"""A Kustomization's ``status.history``: its last reconciliations, newest first.

Each entry is one (build digest, outcome) pair with its first and last time,
the last duration and how often it happened; ``metadata`` carries the
revision (and the origin revision of OCI artifacts). At most five entries
are kept.
"""

from __future__ import annotations

from shared.api import kustomize, meta

HISTORY_LIMIT = 5
ORIGIN_REVISION_KEY = "org.opencontainers.image.revision"


def record(
    status: kustomize.KustomizationStatus,
    *,
    digest: str,
    artifact: meta.Artifact,
    reason: str,
    duration: str,
    now: str,
) -> None:
    """Add a run with outcome ``reason`` to ``status.history`` (newest first, merged by outcome).

    NB: a repeat of the newest entry's digest and outcome leaves the history
    as it is — unlike Flux, which bumps its counters — so that a no-op
    reconcile writes nothing at all.
    """
    history = list(status.history or [])
    if history and history[0].digest == digest and history[0].last_reconciled_status == reason:
        return
    match = next(
        (h for h in history if h.digest == digest and h.last_reconciled_status == reason), None
    )
    if match is not None:
        history.remove(match)
        entry = match.model_copy(
            update={
                "last_reconciled": now,
                "last_reconciled_duration": duration,
                "total_reconciliations": match.total_reconciliations + 1,
            }
        )
    else:
        metadata = {"revision": artifact.revision}
        origin = (artifact.metadata or {}).get(ORIGIN_REVISION_KEY)
        if origin:
            metadata["originRevision"] = origin
        entry = kustomize.Snapshot(
            digest=digest,
            first_reconciled=now,
            last_reconciled=now,
            last_reconciled_duration=duration,
            last_reconciled_status=reason,
            total_reconciliations=1,
            metadata=metadata,
        )
    status.history = [entry, *history][:HISTORY_LIMIT]
