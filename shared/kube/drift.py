"""Comparing live objects with what we applied, field by field (pure).

``project(live, shape)`` keeps the parts of ``live`` at the paths ``shape``
(a desired manifest) sets — the fields we own — so that fields other
managers or the API server add (status, defaults, other owners' labels) never
count as drift. Lists of objects are matched item by item on a key every
item of the shape carries uniquely (``name``, ``containerPort``, ``port``,
``mountPath``…, as Kubernetes' merge keys do), else by position.

The resource manager keeps, per applied object, the projection of the API
server's answer to our apply (the *baseline*: our fields as the server stored
and normalized them). A later projection of the live object that differs
from the baseline is drift; ``changed_fields`` names the differing paths
(``spec.replicas``, ``spec.template.spec.containers[name=app].image``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

_ITEM_KEYS = ("name", "containerPort", "port", "mountPath", "devicePath", "ip", "type")
MISSING = "<missing>"
"""The projection of a field the live object lacks (a value no manifest holds as a marker)."""


def _item_key(shape: Sequence[Any]) -> str | None:
    if not shape or not all(isinstance(item, Mapping) for item in shape):
        return None
    for key in _ITEM_KEYS:
        values = [item.get(key) for item in shape]
        if all(value is not None for value in values) and len(set(map(repr, values))) == len(
            values
        ):
            return key
    return None


def project(live: Any, shape: Any) -> Any:
    """The parts of ``live`` at the paths set in ``shape`` (see the module docstring)."""
    if isinstance(shape, Mapping):
        if not isinstance(live, Mapping):
            return MISSING if live is None else live
        return {key: project(live.get(key), value) for key, value in shape.items()}
    if isinstance(shape, list) and shape:
        if not isinstance(live, list):
            return MISSING if live is None else live
        key = _item_key(shape)
        if key is not None:
            by_key = {repr(item.get(key)): item for item in live if isinstance(item, Mapping)}
            return [project(by_key.get(repr(item[key])), item) for item in shape]
        if len(live) != len(shape):
            return live
        return [project(item, wanted) for item, wanted in zip(live, shape, strict=True)]
    return MISSING if live is None and shape is not None else live


def digest(value: Any) -> str:
    """A stable digest of a JSON-like value (key order ignored)."""
    encoded = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


def changed_fields(before: Any, after: Any, *, path: str = "") -> list[str]:
    """The paths at which two projections differ, in document order."""
    if before == after:
        return []
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        changed: list[str] = []
        for key in list(before) + [k for k in after if k not in before]:
            sub = f"{path}.{key}" if path else str(key)
            changed += changed_fields(before.get(key, MISSING), after.get(key, MISSING), path=sub)
        return changed
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        key = _item_key(before)
        changed = []
        for index, (old, new) in enumerate(zip(before, after, strict=True)):
            label = f"{key}={old[key]}" if key is not None else str(index)
            changed += changed_fields(old, new, path=f"{path}[{label}]")
        return changed
    return [path or "."]
