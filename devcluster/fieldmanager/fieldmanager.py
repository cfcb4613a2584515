"""Server-side apply and managedFields tracking, as kube-apiserver does them.

Two entry points, both pure (the caller does storage, admission, validation):

- ``apply`` — a PATCH with ``application/apply-patch+yaml``: merges the
  applier's configuration into the live object, records the applier's
  ownership, prunes fields it stopped applying, and raises ``ConflictError``
  (409, with the API server's exact message and causes) when it would change a
  field another manager owns, unless ``force``.
- ``update`` — every other write (POST, PUT, merge/JSON/strategic patch, on the
  main resource or a subresource): credits the fields the request added or
  changed to the ``Update`` entry of the manager and takes them away from
  everyone else.

Both return the new object with ``metadata.managedFields`` set (or removed
when no entry is left). Neither sets resourceVersion, uid, generation or
timestamps other than managedFields ``time``; the caller still runs its
strategy (copy of reset fields for PUT, generation), defaulting and
validation, then compares with the stored object and skips the write when
nothing changed (as kube-apiserver does: an apply that changes nothing is no write).

Checks the caller does first (it knows the URL): body apiVersion/kind equal
the endpoint's GVK, name/namespace equal the URL's, a body
``metadata.resourceVersion`` precondition, ``fieldManager`` presence for apply
(``check_manager``), ``force`` only with apply.

Conflict/validation failures are ``FieldManagerError`` subclasses: they are
``errors.ApiError``s (HTTP code, reason, ``details.causes``), so the server
answers them with their ``Status`` body as they are.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import json
from collections.abc import Callable, Iterable
from typing import Any

from devcluster.fieldmanager import lastapplied
from devcluster.machinery import errors
from devcluster.structuredmerge import fieldpaths, managedfields, typedvalues, typeinfo

Object = dict[str, Any]
Defaulter = Callable[[Object], Object]
Path = fieldpaths.Path

LAST_APPLIED = lastapplied.ANNOTATION
_MAX_MANAGER_LENGTH = 128

_F = fieldpaths.Field
# Paths never tracked (apiVersion, kind, metadata), removed from the acting
# manager's set, not recursively.
UNTRACKED: frozenset[Path] = frozenset(
    {(_F("apiVersion"),), (_F("kind"),), (_F("metadata"),)}
    | {
        (_F("metadata"), _F(name))
        for name in (
            "name",
            "namespace",
            "creationTimestamp",
            "selfLink",
            "uid",
            "clusterName",
            "generation",
            "managedFields",
            "resourceVersion",
        )
    }
)
# Server-owned metadata an apply configuration cannot change: live's values win.
_SERVER_METADATA = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
    "managedFields",
)


class FieldManagerError(errors.ApiError):
    """A request the field manager rejects; ``status()`` is the response body."""

    def __init__(
        self, message: str, *, code: int, reason: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(code, reason, message, details=details)

    def causes(self) -> list[dict[str, str]]:
        """``details.causes`` of the Status (empty unless a conflict)."""
        causes: list[dict[str, str]] = (self.details or {}).get("causes", [])
        return causes


@dataclasses.dataclass(frozen=True)
class Conflict:
    """One conflicting (manager, path) pair.

    ``manager`` is the formatted identifier: ``"name"``, then
    `` with subresource "status"``, then `` using <apiVersion>`` for Update entries.
    """

    manager: str
    path: fieldpaths.Path


class ConflictError(FieldManagerError):
    """409 ``Apply failed with N conflict(s): …`` with one cause per conflict."""

    conflicts: tuple[Conflict, ...]

    def __init__(self, conflicts: tuple[Conflict, ...]) -> None:
        self.conflicts = conflicts
        count = len(conflicts)
        if count == 1:
            only = conflicts[0]
            detail = f"conflict with {only.manager}: {fieldpaths.path_string(only.path)}"
        else:
            lines: list[str] = []
            for manager in sorted({c.manager for c in conflicts}):
                lines.append(f"conflicts with {manager}:")
                paths = [c.path for c in conflicts if c.manager == manager]
                lines.extend(
                    f"- {fieldpaths.path_string(p)}" for p in managedfields.sort_paths(paths)
                )
            detail = "\n".join(lines)
        plural = "" if count == 1 else "s"
        causes = [
            {
                "reason": "FieldManagerConflict",
                "message": f"conflict with {manager}",
                "field": fieldpaths.path_string(path),
            }
            for manager in sorted({c.manager for c in conflicts})
            for path in managedfields.sort_paths(
                [c.path for c in conflicts if c.manager == manager]
            )
        ]
        super().__init__(
            f"Apply failed with {count} conflict{plural}: {detail}",
            code=409,
            reason="Conflict",
            details={"causes": causes},
        )


def _invalid(message: str) -> FieldManagerError:
    return FieldManagerError(message, code=422, reason="Invalid")


def check_manager(manager: str | None, *, apply: bool) -> None:
    """Raise 422 when an apply has no ``fieldManager`` or any name is > 128 chars/non-printable."""
    prefix = 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: '
    if not manager:
        if apply:
            raise _invalid(prefix + "Required value: is required for apply patch")
        return
    if len(manager) > _MAX_MANAGER_LENGTH:
        raise _invalid(prefix + f"Too long: may not be more than {_MAX_MANAGER_LENGTH} bytes")
    if not manager.isprintable():
        raise _invalid(
            prefix
            + f"Invalid value: {json.dumps(manager)}: must be made of printable UTF-8 characters"
        )


def check_force(force: bool, *, apply: bool) -> None:
    """Raise 422 when ``force`` is given for a patch that is not an apply."""
    if force and not apply:
        raise _invalid(
            'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified'
            " for non-apply patch"
        )


def check_apply_body(config: object, *, api_version: str, kind: str, name: str) -> None:
    """Raise 400 unless the apply body's apiVersion/kind/name match the endpoint's."""
    if not isinstance(config, dict):
        raise FieldManagerError(
            "the body of an apply patch must be an object", code=400, reason="BadRequest"
        )
    body_version = str(config.get("apiVersion", ""))
    body_kind = str(config.get("kind", ""))
    if body_version != api_version or body_kind != kind:
        shown = body_version if "/" in body_version else "/" + body_version
        raise FieldManagerError(
            f"invalid object type: {shown}, Kind={body_kind}", code=400, reason="BadRequest"
        )
    meta = config.get("metadata")
    body_name = meta.get("name") if isinstance(meta, dict) else None
    if body_name and body_name != name:
        raise FieldManagerError(
            f"the name of the object ({body_name}) does not match the name on the URL ({name})",
            code=400,
            reason="BadRequest",
        )


def manager_from_user_agent(user_agent: str | None) -> str:
    """The default manager of an Update: User-Agent up to the first ``/``, else ``unknown``."""
    if not user_agent:
        return "unknown"
    name = "".join(ch for ch in user_agent.split("/", 1)[0] if ch.isprintable())
    encoded = name.encode("utf-8")[:_MAX_MANAGER_LENGTH]
    name = encoded.decode("utf-8", errors="ignore")
    return name or "unknown"


def reset_fields(
    *, api_version: str, kind: str, subresource: str, status_subresource: bool
) -> fieldpaths.FieldSet:
    """Fields the strategy resets for this endpoint (removed from every set and comparison)."""
    if subresource == "status":
        paths: set[Path] = {(_F("spec"),)}
        if kind == "Deployment" and api_version == "apps/v1":
            paths.add((_F("metadata"), _F("labels")))
        return fieldpaths.FieldSet(paths)
    if not subresource and status_subresource:
        return fieldpaths.FieldSet({(_F("status"),)})
    return fieldpaths.EMPTY


def timestamp(now: datetime.datetime) -> str:
    """``now`` as a managedFields ``time`` (UTC, whole seconds)."""
    if now.tzinfo is not None:
        now = now.astimezone(datetime.UTC)
    # NB: formatted by hand: strftime costs several times more, once per write.
    return (
        f"{now.year:04d}-{now.month:02d}-{now.day:02d}"
        f"T{now.hour:02d}:{now.minute:02d}:{now.second:02d}Z"
    )


def strip_managed(obj: Object) -> Object:
    """A shallow copy without ``metadata.managedFields``."""
    out = dict(obj)
    meta = out.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        meta = dict(meta)
        del meta["managedFields"]
        out["metadata"] = meta
    return out


def without(paths: Iterable[Path], resets: fieldpaths.FieldSet) -> set[Path]:
    """RecDiff(paths, resets)."""
    if not resets:
        return set(paths)
    members = resets.members
    depth = max(len(p) for p in members)
    # NB: reset fields are a few short paths: most paths differ from all of them
    # in their first element, which is one set lookup instead of ``depth`` slices.
    heads = {p[0] for p in members}
    return {
        p
        for p in paths
        if not p
        or p[0] not in heads
        or not any(p[:i] in members for i in range(1, min(depth, len(p)) + 1))
    }


def _restore(result: Object, source: Object, paths: Iterable[Path]) -> Object:
    """Copy the values at ``paths`` (struct fields only) from ``source`` into ``result``."""
    result = dict(result)
    for path in paths:
        names = [e.name for e in path if isinstance(e, fieldpaths.Field)]
        if len(names) != len(path):
            continue
        target: dict[str, Any] = result
        origin: Any = source
        for name in names[:-1]:
            child = target.get(name)
            target[name] = dict(child) if isinstance(child, dict) else {}
            target = target[name]
            origin = origin.get(name) if isinstance(origin, dict) else None
        last = names[-1]
        if isinstance(origin, dict) and last in origin:
            target[last] = copy.deepcopy(origin[last])
        else:
            target.pop(last, None)
    return result


def _restore_server_metadata(result: Object, live: Object) -> Object:
    meta = result.get("metadata")
    if not isinstance(meta, dict):
        return result
    live_meta = live.get("metadata") if isinstance(live.get("metadata"), dict) else {}
    assert isinstance(live_meta, dict)
    meta = dict(meta)
    for name in _SERVER_METADATA:
        if name in live_meta and name != "managedFields":
            meta[name] = live_meta[name]
        else:
            meta.pop(name, None)
    return {**result, "metadata": meta}


def merge_config(
    live: Object, config: Object, *, schema: typeinfo.Struct, resets: fieldpaths.FieldSet
) -> Object:
    """Merge(live, config) with live's server-owned metadata and reset fields kept.

    ``live`` is without managedFields (``{}`` on create).
    """
    merged = typedvalues.merge(live, config, schema)
    merged = _restore_server_metadata(merged, live)
    if resets:
        merged = _restore(merged, live, resets)
    assert isinstance(merged, dict)
    return merged


@dataclasses.dataclass(frozen=True)
class Applied:
    """What an apply produced, with what a later apply of the same manager can reuse."""

    object: Object
    # The entries written to ``object``'s managedFields, in order (``managedfields.arrange``).
    entries: list[managedfields.Entry]
    # RecDiff(FS(config), reset fields): the applier's fields before the untracked ones
    # (``UNTRACKED``) are dropped.
    applied: frozenset[Path]


def apply(
    live: Object | None,
    config: Object,
    *,
    manager: str,
    schema: typeinfo.Struct,
    now: datetime.datetime,
    force: bool = False,
    subresource: str = "",
    status_subresource: bool = False,
    defaulter: Defaulter | None = None,
) -> Object:
    """Server-side apply ``config`` (the decoded request body) by ``manager``.

    ``live`` is the stored object or ``None`` to create. ``schema`` is the
    kind's top-level type. ``subresource`` is ``""`` or ``"status"``;
    ``status_subresource`` says whether the kind has one (then ``status`` is
    a reset field of the main resource, and ``spec`` of ``/status``).
    ``defaulter`` (optional) fills the kind's defaults into a changed result,
    so a field whose applier let go of it comes back with its default and no
    owner. When ``manager == "kubectl"`` the last-applied annotation is
    honoured and rewritten as kubectl expects (see ``lastapplied``).

    Raises ``FieldManagerError`` (400: managedFields in the body, unknown
    field, duplicate list keys; 409: uid on create) and ``ConflictError``.
    """
    return apply_tracked(
        live,
        config,
        manager=manager,
        schema=schema,
        now=now,
        force=force,
        subresource=subresource,
        status_subresource=status_subresource,
        defaulter=defaulter,
    ).object


def apply_tracked(
    live: Object | None,
    config: Object,
    *,
    manager: str,
    schema: typeinfo.Struct,
    now: datetime.datetime,
    force: bool = False,
    subresource: str = "",
    status_subresource: bool = False,
    defaulter: Defaulter | None = None,
    entries: list[managedfields.Entry] | None = None,
) -> Applied:
    """``apply``, also returning the decoded entries and the applier's field set.

    ``entries``, when given, are ``live``'s managedFields already decoded
    (``managedfields.decode_lenient(live)``): a caller that kept them from
    the write that stored ``live`` saves decoding them again.
    """
    meta = config.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    if meta.get("managedFields") is not None:
        raise FieldManagerError("metadata.managedFields must be nil", code=400, reason="BadRequest")
    api_version = str(config.get("apiVersion", ""))
    kind = str(config.get("kind", ""))
    if live is None and meta.get("uid"):
        raise FieldManagerError(
            f"uid mismatch: the provided object specified uid {meta['uid']}, and no existing"
            " object was found",
            code=409,
            reason="Conflict",
        )
    try:
        config_paths = typedvalues.field_set(config, schema, strict=True)
    except typedvalues.TypedValueError as err:
        name = meta.get("name", "")
        namespace = meta.get("namespace")
        where = f"{namespace}/{name}" if namespace else str(name)
        group_version = api_version if "/" in api_version else "/" + api_version
        raise FieldManagerError(
            f"failed to create typed patch object ({where}; {group_version}, Kind={kind}): {err}",
            code=400,
            reason="BadRequest",
        ) from err
    resets = reset_fields(
        api_version=api_version,
        kind=kind,
        subresource=subresource,
        status_subresource=status_subresource,
    )
    stamp = timestamp(now)
    if live is not None:
        if entries is None:
            entries = managedfields.decode_lenient(live)
        live_obj = strip_managed(live)
        if not entries:
            owned = typedvalues.field_set(live_obj, schema) - UNTRACKED
            if owned:
                entries = [
                    managedfields.Entry(
                        manager="before-first-apply",
                        operation="Update",
                        api_version=str(live.get("apiVersion", api_version)),
                        time=stamp,
                        subresource="",
                        fields=frozenset(owned),
                    )
                ]
    else:
        entries = []
        live_obj = {}
    me = managedfields.Entry(
        manager=manager,
        operation="Apply",
        api_version=api_version,
        time=None,
        subresource=subresource,
        fields=frozenset(),
    )
    previous = managedfields.find(entries, me.identity)
    last: frozenset[Path] = previous.fields if previous is not None else frozenset()
    others = [e for e in entries if e.identity != me.identity]

    merged = merge_config(live_obj, config, schema=schema, resets=resets)
    applied = frozenset(without(config_paths, resets))

    result = merged
    # NB: when the applier still applies everything it applied last time,
    # pruning provably removes nothing (every ancestor of a last-applied path
    # is owned again), so the expensive set algebra is skipped.
    if last and not last <= applied:
        result = _prune(
            merged, last=last, owned=[e.fields for e in others] + [applied], schema=schema
        )

    comparison = typedvalues.compare(live_obj, result, schema)
    changed = without(comparison.changed(), resets)
    removed = without(comparison.removed, resets)
    conflicts: list[tuple[managedfields.Entry, Path]] = []
    for entry in others:
        for path in entry.fields & changed:
            conflicts.append((entry, path))
    if conflicts and not force:
        conflicts = lastapplied.unexplained_conflicts(
            conflicts, manager=manager, live=live_obj, config=config, schema=schema
        )
        if conflicts:
            raise ConflictError(tuple(Conflict(entry.display(), path) for entry, path in conflicts))
    lost = changed | removed
    kept_others = [e.with_fields(e.fields - lost) for e in others if e.fields - lost]

    time = previous.time if previous is not None else None
    if _semantic_equal(result, live_obj):
        result = live_obj
    else:
        if defaulter is not None:
            result = defaulter(result)
        if not _semantic_equal(result, live_obj):
            time = stamp
    mine = applied - UNTRACKED
    final_entries = kept_others
    if mine:
        encoded = previous.encoded if previous is not None and previous.fields == mine else None
        final_entries = [
            *kept_others,
            dataclasses.replace(me, fields=mine, time=time, encoded=encoded),
        ]
    if manager == "kubectl":
        result = lastapplied.rewrite(result, config)
    arranged = managedfields.arrange(final_entries)
    return Applied(
        object=managedfields.store_arranged(result, arranged), entries=arranged, applied=applied
    )


def _prune(
    merged: Object,
    *,
    last: frozenset[Path],
    owned: list[frozenset[Path]],
    schema: typeinfo.Struct,
) -> Object:
    """Remove what the applier applied last time but no longer, and nobody else owns."""
    en = typedvalues.ensure_named_fields
    last_en = en(last, schema)
    all_owned: set[Path] = set()
    for fields in owned:
        all_owned |= fields
    owned_en = en(all_owned, schema)
    merged_en = en(typedvalues.field_set(merged, schema), schema)
    pruned = typedvalues.remove_items(merged, last_en, schema)
    pruned_en = en(typedvalues.field_set(pruned, schema), schema)
    pruned = typedvalues.remove_items(merged, merged_en - (pruned_en | owned_en), schema)
    pruned_en = en(typedvalues.field_set(pruned, schema), schema)
    result = typedvalues.remove_items(merged, (merged_en - pruned_en) & last_en, schema)
    assert isinstance(result, dict)
    return result


def _semantic_equal(a: Object, b: Object) -> bool:
    return strip_managed(a) == strip_managed(b)


def update(
    old: Object | None,
    new: Object,
    *,
    manager: str,
    schema: typeinfo.Struct,
    now: datetime.datetime,
    subresource: str = "",
    status_subresource: bool = False,
) -> Object:
    """Track an Update by ``manager`` that turns ``old`` (``None`` on create) into ``new``.

    ``new`` is the defaulted request result as the caller will store it.
    Its ``metadata.managedFields`` decides the starting entries: absent →
    those of ``old``; ``[]`` or ``[{}]`` → reset to none; a decodable list →
    used as sent (ignored for subresource requests). With no starting entries
    on an existing object nothing is tracked. Never raises for ownership.
    """
    api_version = str(new.get("apiVersion", ""))
    kind = str(new.get("kind", ""))
    meta = new.get("metadata") if isinstance(new.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    sent = meta.get("managedFields", typedvalues.MISSING)
    old_entries = managedfields.decode_lenient(old) if old is not None else []
    entries: list[managedfields.Entry]
    if subresource or sent is typedvalues.MISSING or sent is None:
        entries = old_entries
    elif isinstance(sent, list) and (not sent or sent == [{}]):
        entries = []
    else:
        try:
            entries = managedfields.decode(sent)
        except ValueError:
            entries = old_entries
    new_obj = strip_managed(new)
    if old is not None and not entries:
        return new_obj
    resets = reset_fields(
        api_version=api_version,
        kind=kind,
        subresource=subresource,
        status_subresource=status_subresource,
    )
    old_obj = (
        strip_managed(old)
        if old is not None
        else managedfields.zero_value(api_version=api_version, kind=kind, schema=schema)
    )
    comparison = typedvalues.compare(old_obj, new_obj, schema)
    changed = without(comparison.changed(), resets)
    touched = changed | without(comparison.removed, resets)
    me = managedfields.Entry(
        manager=manager,
        operation="Update",
        api_version=api_version,
        time=timestamp(now),
        subresource=subresource,
        fields=frozenset(),
    )
    result: list[managedfields.Entry] = []
    previous: managedfields.Entry | None = None
    for entry in entries:
        if entry.identity == me.identity:
            previous = entry
            continue
        remaining = entry.fields - touched
        if remaining:
            result.append(entry.with_fields(remaining))
    op = frozenset(changed - UNTRACKED)
    removed = frozenset(comparison.removed)
    if op:
        base = previous.fields if previous is not None else frozenset()
        result.append(dataclasses.replace(me, fields=(base | op) - removed))
    elif previous is not None and previous.fields - removed:
        # NB: an entry that only loses fields keeps its time.
        result.append(previous.with_fields(previous.fields - removed))
    return managedfields.store(new_obj, managedfields.cap_updates(result))
