"""Taking fields over from other field managers (``--override-manager``), as Flux does.

Before applying an object, kustomize-controller rewrites its
``metadata.managedFields`` so that the entries of *overridden* managers
become part of its own apply entry: each matching entry is merged (a union
of the ``fieldsV1`` sets) into the controller's ``Apply`` entry, or renamed
to it when there is none yet. The next server-side apply then owns those
fields alone, so a field that Git no longer has is removed by the API
server, instead of surviving under, say, ``kubectl``'s ownership.

An entry matches a ``FieldManager`` when its operation is the same, it is
not for a subresource, and its manager *starts with* the name (so
``kubectl`` covers ``kubectl-edit``, ``kubectl-patch`` and
``kubectl-client-side-apply``). Flux's defaults, always on: ``kubectl``
(Apply and Update), ``before-first-apply`` (Update, the manager Kubernetes
gives fields upgraded from client-side apply) and the controller itself
(Update); every ``--override-manager`` name adds its Apply and Update.

The same patch removes what ``kubectl apply`` and Flux v1 left on objects
(``leftover_removals``: the last-applied-configuration and checksum
annotations, the ``fluxcd.io/sync-gc-mark`` label), as Flux's cleanup does.

Pure: the caller sends the result as one JSON patch.
"""

from __future__ import annotations

import copy
import dataclasses
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

APPLY = "Apply"
UPDATE = "Update"
_LEFTOVER_ANNOTATIONS = (
    "kubectl.kubernetes.io/last-applied-configuration",
    "kustomize.toolkit.fluxcd.io/checksum",
    "fluxcd.io/sync-checksum",
)
_LEFTOVER_LABELS = ("fluxcd.io/sync-gc-mark",)


def leftover_removals(live: Mapping[str, Any]) -> list[dict[str, Any]]:
    """JSON patch operations removing the leftover annotations and labels ``live`` has."""
    metadata = live.get("metadata") or {}
    return [
        {"op": "remove", "path": f"/metadata/{field}/{name.replace('/', '~1')}"}
        for field, names in (("annotations", _LEFTOVER_ANNOTATIONS), ("labels", _LEFTOVER_LABELS))
        for name in names
        if name in (metadata.get(field) or {})
    ]


@dataclasses.dataclass(frozen=True, slots=True)
class FieldManager:
    """Entries whose manager starts with ``name`` and whose operation is ``operation``."""

    name: str
    operation: str

    def matches(self, manager: str, operation: str, subresource: str = "") -> bool:
        return not subresource and operation == self.operation and manager.startswith(self.name)


def overridden(controller: str, extra: Iterable[str] = ()) -> tuple[FieldManager, ...]:
    """Flux's default overridden managers for ``controller``, plus each ``extra`` name."""
    defaults = (
        FieldManager("kubectl", APPLY),
        FieldManager("kubectl", UPDATE),
        FieldManager("before-first-apply", UPDATE),
        FieldManager(controller, UPDATE),
    )
    added = tuple(FieldManager(name, operation) for name in extra for operation in (APPLY, UPDATE))
    return defaults + added


Summary = tuple[tuple[str, str, str], ...]
"""``(manager, operation, subresource)`` of each managedFields entry (what caches keep)."""


def summarize(entries: Iterable[Mapping[str, Any]]) -> Summary:
    # NB: interned: a cache keeps one summary per object, nearly all alike.
    def text(entry: Mapping[str, Any], field: str) -> str:
        return sys.intern(str(entry.get(field, "")))

    return tuple(
        (text(e, "manager"), text(e, "operation"), text(e, "subresource")) for e in entries
    )


def needed(summary: Summary, managers: Sequence[FieldManager]) -> bool:
    """Whether any entry of ``summary`` belongs to an overridden manager."""
    return any(m.matches(*entry) for entry in summary for m in managers)


def merge_fields(first: Any, second: Any) -> Any:
    """The union of two ``fieldsV1`` trees (nested maps of ``f:``/``k:``/``v:`` keys)."""
    if not isinstance(first, Mapping) or not isinstance(second, Mapping):
        return copy.deepcopy(first if first is not None else second)
    merged = copy.deepcopy(dict(first))
    for key, value in second.items():
        merged[key] = merge_fields(merged[key], value) if key in merged else copy.deepcopy(value)
    return merged


def take_over(
    entries: Sequence[Mapping[str, Any]], managers: Sequence[FieldManager], owner: str
) -> list[dict[str, Any]] | None:
    """``entries`` with every overridden one folded into ``owner``'s Apply entry.

    None when no entry matches (nothing to patch). The owner's entry comes
    first; without one, the first match is renamed to it.
    """

    def ours(entry: Mapping[str, Any]) -> bool:
        return (
            entry.get("manager") == owner
            and entry.get("operation") == APPLY
            and not entry.get("subresource")
        )

    def overridden_entry(entry: Mapping[str, Any]) -> bool:
        return not ours(entry) and needed(summarize([entry]), managers)

    if not any(overridden_entry(entry) for entry in entries):
        return None
    result: list[dict[str, Any]] = []
    target: dict[str, Any] | None = None
    for entry in entries:
        if ours(entry) and target is None:
            target = copy.deepcopy(dict(entry))
            result.append(target)
    for entry in entries:
        if ours(entry):
            continue
        if not overridden_entry(entry):
            result.append(copy.deepcopy(dict(entry)))
        elif target is None:
            target = {**copy.deepcopy(dict(entry)), "manager": owner, "operation": APPLY}
            result.append(target)
        else:
            target["fieldsV1"] = merge_fields(target.get("fieldsV1"), entry.get("fieldsV1"))
    return result
