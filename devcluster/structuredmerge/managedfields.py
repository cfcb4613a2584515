"""The ``metadata.managedFields`` list: entries, their identity, order and cap.

An entry is one owner of a set of fields. Identity: an Apply entry
is (manager, subresource) — one per applier whatever the apiVersion; an Update
entry is (manager, apiVersion, subresource). Entries are written in the API
server's order (Apply first, then by time, manager, apiVersion, subresource),
keys in its order, empty ``time``/``subresource`` left out. More than ten
Update entries are folded, oldest first, into ``ancient-changes`` buckets.

Also here: the Go zero value a create is compared against (so a POST owns
``"."`` exactly where the API server records it) and the order in which a set
lists its paths in conflict messages. Pure data, no I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from devcluster.structuredmerge import fieldpaths, typeinfo

Path = fieldpaths.Path
MAX_UPDATE_ENTRIES = 10
ANCIENT_CHANGES = "ancient-changes"


@dataclasses.dataclass(frozen=True)
class Entry:
    """One managedFields entry, its fields decoded."""

    manager: str
    operation: str
    api_version: str
    time: str | None
    subresource: str
    fields: frozenset[Path]
    # The fieldsV1 object this entry was decoded from, reused while ``fields`` is unchanged.
    encoded: dict[str, Any] | None = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def identity(self) -> tuple[str, ...]:
        """Apply: (manager, subresource); Update also by apiVersion."""
        if self.operation == "Apply":
            return ("Apply", self.manager, self.subresource)
        return (self.operation, self.manager, self.api_version, self.subresource)

    def display(self) -> str:
        """The manager as conflict messages name it."""
        text = f'"{self.manager}"'
        if self.subresource:
            text += f' with subresource "{self.subresource}"'
        if self.operation != "Apply":
            text += f" using {self.api_version}"
        return text

    def with_fields(self, fields: Iterable[Path]) -> Entry:
        kept = frozenset(fields)
        if kept == self.fields:
            return self
        return dataclasses.replace(self, fields=kept, encoded=None)

    def encode(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
        }
        if self.time:
            out["time"] = self.time
        out["fieldsType"] = "FieldsV1"
        if self.encoded is not None:
            out["fieldsV1"] = self.encoded
        else:
            out["fieldsV1"] = fieldpaths.encode(fieldpaths.FieldSet(self.fields))
        if self.subresource:
            out["subresource"] = self.subresource
        return out


def decode(raw: object) -> list[Entry]:
    """Entries from a managedFields list; ValueError when malformed. Duplicates: last wins."""
    if not isinstance(raw, list):
        raise ValueError("managedFields must be a list")
    by_identity: dict[tuple[str, ...], Entry] = {}
    for item in raw:
        if not isinstance(item, dict):
            raise ValueError("managedFields entries must be objects")
        fields_type = item.get("fieldsType", "FieldsV1")
        if fields_type != "FieldsV1":
            raise ValueError(f"unsupported fieldsType {fields_type!r}")
        operation = item.get("operation", "")
        if operation not in ("Apply", "Update"):
            raise ValueError(f"unsupported operation {operation!r}")
        raw_fields = item.get("fieldsV1") or {}
        fields = fieldpaths.decode(raw_fields)
        entry = Entry(
            manager=str(item.get("manager", "")),
            operation=operation,
            api_version=str(item.get("apiVersion", "")),
            time=item.get("time") or None,
            subresource=str(item.get("subresource", "") or ""),
            fields=fields.members,
            encoded=raw_fields if isinstance(raw_fields, dict) else None,
        )
        by_identity.pop(entry.identity, None)
        by_identity[entry.identity] = entry
    return list(by_identity.values())


def decode_lenient(obj: dict[str, Any]) -> list[Entry]:
    """Entries of a stored object; none when absent or unreadable."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not meta.get("managedFields"):
        return []
    try:
        return decode(meta["managedFields"])
    except ValueError:
        return []


def find(entries: Iterable[Entry], identity: tuple[str, ...]) -> Entry | None:
    for entry in entries:
        if entry.identity == identity:
            return entry
    return None


def _sort_key(entry: Entry) -> tuple[Any, ...]:
    return (
        entry.operation != "Apply",
        entry.time or "",
        entry.manager,
        entry.api_version,
        entry.subresource,
    )


def arrange(entries: Iterable[Entry]) -> list[Entry]:
    """The non-empty ``entries`` in the API server's order, each with its ``fieldsV1`` encoded.

    The result decodes from what ``store`` writes, so a caller may keep it
    instead of decoding the stored list again.
    """
    kept = sorted((e for e in entries if e.fields), key=_sort_key)
    return [
        e
        if e.encoded is not None
        else dataclasses.replace(e, encoded=fieldpaths.encode(fieldpaths.FieldSet(e.fields)))
        for e in kept
    ]


def store(obj: dict[str, Any], entries: Iterable[Entry]) -> dict[str, Any]:
    """``obj`` with its managedFields replaced by ``entries`` (omitted when none)."""
    return store_arranged(obj, arrange(entries))


def store_arranged(obj: dict[str, Any], arranged: list[Entry]) -> dict[str, Any]:
    """``store`` for entries ``arrange`` returned."""
    meta = obj.get("metadata")
    meta = dict(meta) if isinstance(meta, dict) else {}
    if arranged:
        meta["managedFields"] = [e.encode() for e in arranged]
    else:
        meta.pop("managedFields", None)
    return {**obj, "metadata": meta}


def cap_updates(entries: list[Entry]) -> list[Entry]:
    """Fold the oldest Update entries into per-apiVersion ``ancient-changes`` buckets."""
    updates = [e for e in entries if e.operation != "Apply"]
    if len(updates) <= MAX_UPDATE_ENTRIES:
        return entries
    result = {e.identity: e for e in entries}
    count = len(updates)
    buckets: dict[str, tuple[str, ...]] = {}
    for entry in sorted(updates, key=lambda e: (e.time or "", e.manager, e.api_version)):
        if count <= MAX_UPDATE_ENTRIES:
            break
        del result[entry.identity]
        bucket_id = buckets.get(entry.api_version)
        if bucket_id is not None:
            bucket = result[bucket_id]
            result[bucket_id] = bucket.with_fields(bucket.fields | entry.fields)
            count -= 1
            continue
        bucket = Entry(
            manager=ANCIENT_CHANGES,
            operation="Update",
            api_version=entry.api_version,
            time=None,
            subresource="",
            fields=entry.fields,
        )
        existing = result.get(bucket.identity)
        if existing is not None:
            bucket = bucket.with_fields(existing.fields | entry.fields)
            count -= 1
        result[bucket.identity] = bucket
        buckets[entry.api_version] = bucket.identity
    return list(result.values())


def sort_paths(paths: Iterable[Path]) -> list[Path]:
    """Paths in structured-merge-diff's set order: each level's members, then its children."""
    trie: dict[fieldpaths.PathElement, Any] = {}
    for path in paths:
        level = trie
        for depth, element in enumerate(path):
            node = level.setdefault(element, [False, {}])
            if depth == len(path) - 1:
                node[0] = True
            level = node[1]
    out: list[Path] = []
    _walk(trie, (), out)
    return out


def _walk(level: dict[fieldpaths.PathElement, Any], prefix: Path, out: list[Path]) -> None:
    ordered = sorted(level, key=fieldpaths._element_sort_key)
    out.extend((*prefix, e) for e in ordered if level[e][0])
    for element in ordered:
        if level[element][1]:
            _walk(level[element][1], (*prefix, element), out)


_POD_TEMPLATE: dict[str, Any] = {"metadata": {}, "spec": {"containers": None}}
_WORKLOAD_SPECS: dict[str, dict[str, Any]] = {
    "Deployment": {"selector": None, "template": _POD_TEMPLATE, "strategy": {}},
    "ReplicaSet": {"selector": None, "template": _POD_TEMPLATE},
    "StatefulSet": {"selector": None, "template": _POD_TEMPLATE, "updateStrategy": {}},
    "DaemonSet": {"selector": None, "template": _POD_TEMPLATE, "updateStrategy": {}},
    "ReplicationController": {},
    "Job": {"template": _POD_TEMPLATE},
    "CronJob": {"jobTemplate": {"metadata": {}, "spec": {"template": _POD_TEMPLATE}}},
    "Pod": {"containers": None},
}


def zero_value(*, api_version: str, kind: str, schema: typeinfo.Struct) -> dict[str, Any]:
    """What a create is compared against.

    Built-in kinds: the Go zero value as JSON — non-pointer structs present
    (``metadata``, ``spec``, ``status``, pod templates, strategies), slices and
    pointers without omitempty present as null. Custom resources (no
    ``metadata`` schema of their own beyond ObjectMeta): ``{apiVersion, kind}``.
    """
    if not _is_builtin(schema):
        return {"apiVersion": api_version, "kind": kind}
    zero: dict[str, Any] = {"metadata": {}}
    if schema.field("spec") is not None:
        spec = _WORKLOAD_SPECS.get(kind, {})
        zero["spec"] = _deep_copy(spec)
    if schema.field("status") is not None:
        zero["status"] = {}
    return zero


def _is_builtin(schema: typeinfo.Struct) -> bool:
    return schema.name.startswith("io.k8s.")


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value
