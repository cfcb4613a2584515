"""A Kustomization's ``status.history``: its last reconciliations, newest first.

Each entry is one (build digest, outcome) pair with its first and last time,
the last duration and how often it happened (``totalReconciliations``);
``metadata`` carries the revision (and the origin revision of OCI
artifacts). At most five entries are kept. As in Flux, a run whose (digest,
outcome) an entry already has bumps that entry's count and times and moves
it to the front; any other run adds an entry.

NB: the cost rule. Flux writes status on every run, so its counters follow
each run. Here a no-op run writes nothing, so a repeat of the newest entry
is not written by itself: ``Repeats`` counts it in memory and rides along
with the next status write that happens anyway (a requested reconcile, a
new revision, a failure, a drift correction), or is folded in first when
the outcome changes. The counts are exact while the controller runs; runs
counted but not yet written when it restarts are lost.
"""

from __future__ import annotations

import dataclasses

from shared.api import kustomize, meta

HISTORY_LIMIT = 5
ORIGIN_REVISION_KEY = "org.opencontainers.image.revision"


@dataclasses.dataclass(slots=True)
class Repeats:
    """Repeats of the newest entry's (digest, outcome) not written yet."""

    digest: str
    reason: str
    count: int = 0
    last_reconciled: str = ""
    last_reconciled_duration: str = ""

    def fold(self, status: kustomize.KustomizationStatus) -> None:
        """Add the repeats to the newest entry if it is still theirs; then count from zero."""
        history = list(status.history or [])
        if self.count and history and _matches(history[0], self.digest, self.reason):
            history[0] = history[0].model_copy(
                update={
                    "last_reconciled": self.last_reconciled,
                    "last_reconciled_duration": self.last_reconciled_duration,
                    "total_reconciliations": history[0].total_reconciliations + self.count,
                }
            )
            status.history = history
        self.count = 0


def _matches(entry: kustomize.Snapshot, digest: str, reason: str) -> bool:
    return entry.digest == digest and entry.last_reconciled_status == reason


def record(
    status: kustomize.KustomizationStatus,
    *,
    digest: str,
    artifact: meta.Artifact,
    reason: str,
    duration: str,
    now: str,
    repeats: Repeats | None = None,
) -> Repeats | None:
    """Add a run with outcome ``reason`` to ``status.history`` (newest first, merged by outcome).

    A repeat of the newest entry is counted in the returned ``Repeats``
    (``repeats`` when it is the same pair) instead of changing ``status``;
    the caller folds it in when status is written anyway. Otherwise the
    pending ``repeats`` are folded in first and None is returned.
    """
    history = list(status.history or [])
    if history and _matches(history[0], digest, reason):
        if repeats is None or (repeats.digest, repeats.reason) != (digest, reason):
            repeats = Repeats(digest=digest, reason=reason)
        repeats.count += 1
        repeats.last_reconciled = now
        repeats.last_reconciled_duration = duration
        return repeats
    if repeats is not None:
        repeats.fold(status)
        history = list(status.history or [])
    match = next((h for h in history if _matches(h, digest, reason)), None)
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
    return None
