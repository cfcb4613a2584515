"""What a Kustomization's apply event says: the changes, the revision, the commit.

``change_lines`` lists the objects created, configured (with the fields that
drifted) and deleted, one line each (``ConfigMap/ns/name configured (drift:
data.color)``); unchanged objects are left out. ``event_metadata`` carries
the revision and, from the artifact's metadata, the origin revision and the
commit subject and author: the audit trail from a Git commit to the cluster.
"""

from __future__ import annotations

from controllers.kustomize.kustomization.history import ORIGIN_REVISION_KEY
from shared.api import meta, source
from shared.kube import resourcemanager

_REPORTED = (
    resourcemanager.Action.CREATED,
    resourcemanager.Action.CONFIGURED,
    resourcemanager.Action.DELETED,
)
_UPSTREAM_KEYS = (
    (ORIGIN_REVISION_KEY, "originRevision"),
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


def event_metadata(artifact: meta.Artifact) -> dict[str, str]:
    """The event metadata of an apply of ``artifact``."""
    metadata = {"revision": artifact.revision, "commit_status": "update"}
    upstream = artifact.metadata or {}
    for key, name in _UPSTREAM_KEYS:
        if upstream.get(key):
            metadata[name] = upstream[key]
    return metadata
