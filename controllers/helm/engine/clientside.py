"""Client-side apply (Helm's "csa" apply method), for releases that do not use server-side apply.

Flux lets a HelmRelease turn server-side apply off (``serverSideApply:
false``/``disabled``); Helm then creates missing objects and patches
existing ones, and records ``apply_method: csa`` so that later Helm
actions do the same. Releases applied this way are rolled back and upgraded
by the Helm CLI and SDK without field-manager conflicts.

Here an existing object gets one JSON merge patch (RFC 7386, which every
kind accepts): the desired object, with ``null`` for every field the
previous revision set and the desired one no longer does (``merge_patch``).
Lists are replaced whole. Both create and patch carry the engine's field
manager. With ``force``, an object whose immutable fields changed is
deleted and created again, as Helm's ``--force`` replaces it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

from shared.kube import applying, client, errors, inventory


class ClientSideError(Exception):
    """Creating or patching one object failed; the message names it."""


def merge_patch(previous: Mapping[str, Any] | None, desired: Mapping[str, Any]) -> dict[str, Any]:
    """``desired`` with ``None`` for the fields of ``previous`` it dropped (recursively)."""
    patch: dict[str, Any] = {}
    for key, value in desired.items():
        before = (previous or {}).get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            patch[key] = merge_patch(before, value)
        else:
            patch[key] = value
    for key in previous or {}:
        if key not in desired:
            patch[key] = None
    return patch


def _immutable(error: errors.KubeError) -> bool:
    texts = [error.message, *(str(cause.get("message", "")) for cause in error.causes)]
    return isinstance(error, errors.InvalidError) and any("immutable" in text for text in texts)


async def _create(objects: applying.Objects, obj: Mapping[str, Any], *, manager: str) -> None:
    resource = await objects.discovery.resolve(str(obj["apiVersion"]), str(obj["kind"]))
    namespace = (obj.get("metadata") or {}).get("namespace")
    await objects.api.request(
        "POST",
        resource.path(namespace=namespace),
        query={"fieldManager": manager},
        body=dict(obj),
        verb="create",
    )


async def _gone(objects: applying.Objects, ref: inventory.Ref, *, within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            await objects.get(ref.api_version, ref.kind, ref.name, namespace=ref.namespace or None)
        except errors.NotFoundError:
            return
        if time.monotonic() > deadline:
            raise ClientSideError(f"{ref} was not deleted within {within:g}s for replacement")
        await asyncio.sleep(0.2)


async def apply(
    objects: applying.Objects,
    desired: Sequence[Mapping[str, Any]],
    *,
    previous: Sequence[Mapping[str, Any]],
    manager: str,
    force: bool,
    within: float,
) -> None:
    """Create or patch each object, in order (see the module docstring)."""
    before = {inventory.Ref.of(obj).key: obj for obj in previous}
    for obj in desired:
        ref = inventory.Ref.of(obj)
        try:
            try:
                live = await objects.get(
                    str(obj["apiVersion"]), ref.kind, ref.name, namespace=ref.namespace or None
                )
            except errors.NotFoundError:
                live = None
            if live is None:
                await _create(objects, obj, manager=manager)
                continue
            patch = merge_patch(before.get(ref.key), obj)
            try:
                await objects.patch(
                    obj, patch, content_type=client.MERGE_PATCH, field_manager=manager
                )
            except errors.KubeError as error:
                if not (force and _immutable(error)):
                    raise
                await objects.delete(dict(obj), propagation="Foreground")
                await _gone(objects, ref, within=within)
                await _create(objects, obj, manager=manager)
        except errors.KubeError as error:
            raise ClientSideError(f"{ref} apply failed: {error.message}") from error
