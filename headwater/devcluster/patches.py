"""The non-apply patch types: JSON merge patch, JSON patch and strategic merge patch.

All functions are pure: they take the current object (a JSON-compatible value,
never mutated) and the decoded patch, and return a new value.

- ``merge_patch`` — RFC 7386 (``application/merge-patch+json``).
- ``json_patch`` — RFC 6902 (``application/json-patch+json``): add, remove,
  replace, move, copy, test; JSON-pointer ``~0``/``~1`` escapes; ``-`` appends.
- ``strategic_merge_patch`` — ``application/strategic-merge-patch+json`` as
  apimachinery's ``strategicpatch`` applies it, driven by ``typeinfo`` patch
  strategies and merge keys: lists with strategy ``merge`` merge by merge key
  (scalar lists as sets), other lists are replaced; directives
  ``$patch: replace|delete|merge`` (in maps and list items), ``$retainKeys``,
  ``$deleteFromPrimitiveList/<field>``, ``$setElementOrder/<field>``;
  ``null`` deletes a key. Untyped parts (CRDs) fall back to merge-patch
  semantics, as the API server does for custom resources (which reject SMP
  outright — the caller decides that; see ``strategic_merge_patch``).

Errors: ``MalformedPatchError`` for a patch that is not of the right shape
(the API server answers 400), ``PatchApplyError`` for one that cannot be
applied to this object, incl. a failed JSON-patch ``test`` (422).
"""

from __future__ import annotations

from typing import Any

from headwater.devcluster import typeinfo


class PatchError(ValueError):
    """Base class of patch failures; ``str()`` is the message for the Status."""


class MalformedPatchError(PatchError):
    """The patch document itself is invalid (HTTP 400)."""


class PatchApplyError(PatchError):
    """The patch is well-formed but cannot be applied to this object (HTTP 422)."""


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 merge patch; a non-object patch replaces the target."""
    raise NotImplementedError


def json_patch(target: Any, operations: Any) -> Any:
    """Apply an RFC 6902 patch (a list of operation objects)."""
    raise NotImplementedError


def strategic_merge_patch(original: Any, patch: Any, *, schema: typeinfo.Node) -> Any:
    """Apply a strategic merge patch to ``original`` typed by ``schema``.

    ``schema`` is the object's top-level type (``Catalog.object_type``).
    Where the schema gives no strategy (``Untyped``, undeclared fields) maps
    merge and lists are replaced, like a JSON merge patch.
    """
    raise NotImplementedError
