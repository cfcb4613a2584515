"""A HelmRelease's values: ``valuesFrom`` then ``values``, composed as Flux composes them.

``compose`` walks ``spec.valuesFrom`` in order. Each reference names a
ConfigMap or Secret in the HelmRelease's namespace and a data key
(``values.yaml`` by default):

- without ``targetPath`` the key holds a YAML document of values, deep-merged
  over what came before (maps merge key by key, anything else is replaced);
- with ``targetPath`` the key holds one flat value set at that dot-notation
  path with Helm's ``--set`` parser (``helm_python.parse_set_string``: typed,
  so ``80`` is a number and ``a,b`` two assignments, as ``helm --set``); a
  value in single or double quotes is set as a string without its quotes
  (``--set-string``), and ``literal: true`` sets it verbatim
  (``--set-literal``);
- ``optional: true`` skips a missing object or key instead of failing.

The inline ``spec.values`` are merged last, so they win. Their config
digest (``lastAttemptedConfigDigest``, a snapshot's ``configDigest``) is the
engine's ``digests.values_digest``, the one stored releases are compared by.

The objects are read through ``fetch`` (the reconciler passes one that reads
the API), so this module does no I/O of its own.
"""

from __future__ import annotations

import base64
import binascii
import copy
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import helm_python
import yaml

from shared.api import meta

DEFAULT_VALUES_KEY = "values.yaml"

Fetch = Callable[[str, str], Awaitable[Mapping[str, Any] | None]]
"""``(kind, name)`` → the ConfigMap or Secret in the HelmRelease's namespace, or None."""


class ValuesError(Exception):
    """A values reference cannot be resolved or parsed (Flux's ``ValuesError``)."""


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` deep-merged over ``base``: maps merge, other values are replaced."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        current = merged.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            merged[key] = merge(current, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _entry(found: Mapping[str, Any], kind: str, key: str) -> str | None:
    """The text of data key ``key`` (a Secret's is decoded), None when absent."""
    if kind == "Secret":
        data = found.get("data") or {}
        if key in data:
            try:
                return base64.b64decode(str(data[key]), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError) as invalid:
                raise ValuesError(f"key '{key}' is not base64-encoded text") from invalid
        text = (found.get("stringData") or {}).get(key)
        return None if text is None else str(text)
    for field in ("data", "binaryData"):
        value = (found.get(field) or {}).get(key)
        if value is not None:
            return str(value) if field == "data" else base64.b64decode(str(value)).decode()
    return None


def set_path(values: dict[str, Any], path: str, value: str, *, literal: bool = False) -> None:
    """Set ``value`` at dot-notation ``path`` in ``values`` (see the module docstring)."""
    expression = f"{path}={value}"
    try:
        if literal:
            parsed = helm_python.parse_set_literal(expression)
        elif len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            parsed = helm_python.parse_set_string_values(f"{path}={value[1:-1]}")
        else:
            parsed = helm_python.parse_set_string(expression)
    except helm_python.HelmError as invalid:
        raise ValuesError(f"unable to set value at '{path}': {invalid}") from invalid
    values.update(merge(values, parsed))


def parse_document(text: str, *, origin: str) -> dict[str, Any]:
    """A YAML document of values; an empty one is no values."""
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError as invalid:
        raise ValuesError(f"unable to read values from {origin}: {invalid}") from invalid
    if parsed is None:
        return {}
    if not isinstance(parsed, dict):
        raise ValuesError(f"unable to read values from {origin}: not a YAML map")
    return parsed


async def compose(
    references: Sequence[meta.ValuesReference],
    inline: Mapping[str, Any] | None,
    *,
    namespace: str,
    fetch: Fetch,
) -> dict[str, Any]:
    """The values of a HelmRelease (see the module docstring); ``ValuesError`` on failure."""
    result: dict[str, Any] = {}
    for ref in references:
        where = f"{ref.kind} '{namespace}/{ref.name}'"
        found = await fetch(ref.kind, ref.name)
        if found is None:
            if ref.optional:
                continue
            raise ValuesError(f"could not find {where}")
        key = ref.values_key or DEFAULT_VALUES_KEY
        try:
            text = _entry(found, ref.kind, key)
        except ValuesError as invalid:
            raise ValuesError(f"{invalid} in {where}") from invalid
        if text is None:
            if ref.optional:
                continue
            raise ValuesError(f"missing key '{key}' in {where}")
        if ref.target_path:
            set_path(result, ref.target_path, text, literal=bool(ref.literal))
            continue
        result = merge(result, parse_document(text, origin=f"key '{key}' in {where}"))
    return merge(result, inline or {})
