"""What a Kustomization's events say, as Flux's kustomize-controller says it.

- the apply change set and, separately, the prune change set: one line per
  object created, configured (with the fields that drifted) or deleted
  (``change_lines``), as Normal events with reason ``Progressing`` — the
  Ready reason while the run is still going, so no event claims success
  before the health checks pass;
- ``Reconciliation finished in <duration>, next run in <interval>``
  (``finished_message``) once Ready, with reason ``ReconciliationSucceeded``:
  the only event whose metadata carries ``commit_status: update``, which
  the notification-controller routes to commit-status providers alone;
- every event of a run that knows its artifact carries ``revision`` (and
  ``originRevision`` for OCI artifacts built from Git) — failures included.

The change-set events also carry the commit subject and author from the
artifact's metadata: the audit trail from a Git commit to the cluster.
"""

from __future__ import annotations

from controllers.kustomize.kustomization.history import ORIGIN_REVISION_KEY
from shared.api import meta, notification, source
from shared.kube import resourcemanager

_REPORTED = (
    resourcemanager.Action.CREATED,
    resourcemanager.Action.CONFIGURED,
    resourcemanager.Action.DELETED,
)
_UPSTREAM_KEYS = (
    (source.ARTIFACT_COMMIT_SUBJECT_KEY, "commitSubject"),
    (source.ARTIFACT_COMMIT_AUTHOR_KEY, "commitAuthor"),
)


def change_lines(change_set: resourcemanager.ChangeSet) -> list[str]:
    """One line per object created, configured or deleted."""
    lines = []
    for change in change_set.changes:
        if change.action not in _REPORTED:
            continue
        line = str(change)
        if change.drifted and change.fields:
            line += f" (drift: {', '.join(change.fields)})"
        lines.append(line)
    return lines


def revision_metadata(revision: str | None, origin_revision: str | None) -> dict[str, str]:
    """Flux's ``revision`` and ``originRevision`` event metadata (each only when known)."""
    metadata = {}
    if revision:
        metadata[notification.META_REVISION_KEY] = revision
    if origin_revision:
        metadata[notification.META_ORIGIN_REVISION_KEY] = origin_revision
    return metadata


def artifact_metadata(artifact: meta.Artifact) -> dict[str, str]:
    """The metadata of events about a run of ``artifact``."""
    return revision_metadata(artifact.revision, (artifact.metadata or {}).get(ORIGIN_REVISION_KEY))


def change_metadata(artifact: meta.Artifact) -> dict[str, str]:
    """The metadata of a change-set event: the revision and the commit behind it."""
    metadata = artifact_metadata(artifact)
    upstream = artifact.metadata or {}
    for key, name in _UPSTREAM_KEYS:
        if upstream.get(key):
            metadata[name] = upstream[key]
    return metadata


def finished_message(elapsed: float, interval: float) -> str:
    """``Reconciliation finished in 1.2s, next run in 5m0s`` (Go's duration format)."""
    return (
        f"Reconciliation finished in {meta.format_duration(elapsed)}, "
        f"next run in {meta.format_duration(interval)}"
    )


def finished_metadata(artifact: meta.Artifact) -> dict[str, str]:
    """The finished event's metadata: the revision and ``commit_status: update``."""
    return {
        **artifact_metadata(artifact),
        notification.META_COMMIT_STATUS_KEY: notification.META_COMMIT_STATUS_UPDATE_VALUE,
    }
