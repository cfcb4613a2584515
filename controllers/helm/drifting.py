"""Drift of a release: the cluster compared with the manifest Helm stored for it.

``detect`` compares the objects of a stored revision (as the engine applies
them: ``Engine.objects_of``) with the live objects, read through
``Live`` (the resource manager's view: the watch cache of objects carrying
the HelmRelease's owner labels, a GET only for what the cache lacks), so a
reconcile of an unchanged release costs no request: no dry-run per object
per interval, as kustomize-controller does it.

The comparison is ``shared.kube.drift``'s: only the paths the manifest sets
count (what other managers or the API server add never does), minus the
``driftDetection.ignore`` pointers. A missing object is ``removed``; a
differing one ``changed`` with the differing paths, one line each, in the
form of Flux's drift summary (``Deployment/apps/web changed (spec.replicas)``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from shared.kube import drift, ignoring, inventory

Live = Callable[[inventory.Ref], Awaitable[dict[str, Any] | None]]
"""The live object of a ref, or None when it does not exist."""


def describe(ref: inventory.Ref) -> str:
    """``Kind/namespace/name`` (``Kind/name`` for cluster-scoped objects)."""
    return f"{ref.kind}/{ref.namespace}/{ref.name}" if ref.namespace else f"{ref.kind}/{ref.name}"


def compare(
    desired: Mapping[str, Any], live: Mapping[str, Any] | None, *, ignored: Sequence[str] = ()
) -> str | None:
    """One drift line for ``desired`` against ``live``, None when they agree."""
    ref = inventory.Ref.of(desired)
    if live is None:
        return f"{describe(ref)} removed"
    shape = ignoring.without(desired, list(ignored)) if ignored else dict(desired)
    want = drift.project(shape, shape)
    have = drift.project(live, shape)
    if have == want:
        return None
    fields = drift.changed_fields(want, have)
    return f"{describe(ref)} changed ({', '.join(fields)})"


async def detect(
    desired: Sequence[Mapping[str, Any]],
    *,
    live: Live,
    rules: ignoring.Rules,
) -> list[str]:
    """One line per drifted object of ``desired`` (see the module docstring)."""
    lines: list[str] = []
    for obj in desired:
        found = await live(inventory.Ref.of(obj))
        line = compare(obj, found, ignored=rules.pointers(obj))
        if line is not None:
            lines.append(line)
    return lines
