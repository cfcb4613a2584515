"""kubectl's last-applied-configuration annotation during server-side apply.

For manager ``kubectl`` the API server lets conflicts pass that the
annotation explains — the field's value there equals live's, i.e. it was last
set by a client-side apply of the same configuration — and, after a
successful apply, rewrites an existing annotation to the new configuration.
Neither is seen by field tracking. Pure functions, no I/O.
"""

from __future__ import annotations

import copy
import json
from typing import Any, TypeVar

from devcluster.structuredmerge import fieldpaths, typedvalues, typeinfo

ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
_LIMIT = 256 * 1024
Object = dict[str, Any]
Path = fieldpaths.Path
_E = TypeVar("_E")


def unexplained_conflicts(
    conflicts: list[tuple[_E, Path]],
    *,
    manager: str,
    live: Object,
    config: Object,
    schema: typeinfo.Struct,
) -> list[tuple[_E, Path]]:
    """kubectl's client-side → server-side upgrade: drop conflicts the last-applied annotation
    explains (its value there equals live's), as the API server does for manager ``kubectl``."""
    if manager != "kubectl":
        return conflicts
    annotations = (live.get("metadata") or {}).get("annotations") or {}
    raw = annotations.get(ANNOTATION)
    if not isinstance(raw, str):
        return conflicts
    try:
        last_applied = json.loads(raw)
    except json.JSONDecodeError:
        return conflicts
    if not isinstance(last_applied, dict) or last_applied.get("apiVersion") != config.get(
        "apiVersion"
    ):
        return conflicts
    remaining = []
    for entry, path in conflicts:
        before = typedvalues.get_path(last_applied, path, schema)
        now = typedvalues.get_path(live, path, schema)
        if before is typedvalues.MISSING or before != now:
            remaining.append((entry, path))
    return remaining


def rewrite(result: Object, config: Object) -> Object:
    """Replace an existing annotation with the apply body minus the annotation
    (sorted keys, trailing newline, as Go's json.Encoder writes); dropped when
    the annotations would exceed 256 KiB."""
    meta = result.get("metadata")
    if not isinstance(meta, dict):
        return result
    annotations = meta.get("annotations")
    if not isinstance(annotations, dict) or ANNOTATION not in annotations:
        return result
    body = copy.deepcopy(config)
    body_annotations = (body.get("metadata") or {}).get("annotations")
    if isinstance(body_annotations, dict):
        body_annotations.pop(ANNOTATION, None)
        if not body_annotations:
            del body["metadata"]["annotations"]
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
    annotations = dict(annotations)
    # NB: a null value (an apply body may hold one) counts as empty, not as a crash.
    size = sum(len(k) + len(v or "") for k, v in annotations.items() if k != ANNOTATION)
    if size + len(ANNOTATION) + len(text) > _LIMIT:
        del annotations[ANNOTATION]
    else:
        annotations[ANNOTATION] = text
    return {**result, "metadata": {**meta, "annotations": annotations}}
