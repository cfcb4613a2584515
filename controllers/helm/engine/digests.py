"""The digests Flux's helm-controller keeps of a release (pure).

- ``values_digest``: ``sha256:<hex>`` of the values as YAML (Helm's
  ``Values.Encode``: keys sorted, ``null`` for none), which Flux writes as a
  snapshot's ``configDigest`` and the HelmRelease's
  ``lastAttemptedConfigDigest``;
- ``snapshot_digest``: ``sha256:<hex>`` of Flux's JSON "observation" of a
  release (name, version, info, chart metadata, config, manifest, the hooks
  other than test hooks, namespace, and the OCI digest when there is one),
  written as Go's ``json.Encoder`` writes it: struct fields in declaration
  order, map keys sorted, ``<``, ``>`` and ``&`` escaped, a trailing newline.
  A release whose stored state changed behind the controller's back no
  longer matches the snapshot taken when it was made.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import yaml


def _go_value(value: Any) -> Any:
    """A decoded JSON value as Go's ``map[string]any`` re-encodes it (keys sorted, 1.0 as 1)."""
    if isinstance(value, Mapping):
        return {str(key): _go_value(value[key]) for key in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return [_go_value(item) for item in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    return value


def go_json(value: Any) -> bytes:
    """``value`` as Go's ``json.Encoder`` writes it (dict order kept: build structs in order)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for raw, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, escaped)
    return (text + "\n").encode()


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def values_digest(values: Mapping[str, Any] | None) -> str:
    """Flux's config digest of user-supplied ``values`` (see the module docstring)."""
    if not values:
        return _sha256(b"null\n")
    text = yaml.safe_dump(
        _go_value(values),
        default_flow_style=False,
        sort_keys=True,
        allow_unicode=True,
        width=2**31 - 1,
    )
    return _sha256(text.encode())


def observation(release: Mapping[str, Any], *, oci_digest: str = "") -> dict[str, Any]:
    """Flux's observation of Helm's release JSON: what the snapshot digest covers, in Go's order."""
    hooks = [
        hook for hook in release.get("hooks") or () if "test" not in (hook.get("events") or ())
    ]
    config = release.get("config")
    observed: dict[str, Any] = {
        "name": release.get("name", ""),
        "version": release.get("version", 0),
        "info": dict(release.get("info") or {}),
        "chartMetadata": dict((release.get("chart") or {}).get("metadata") or {}),
        "config": _go_value(config) if config else None,
        "manifest": release.get("manifest", ""),
        "hooks": hooks or None,
        "namespace": release.get("namespace", ""),
    }
    if oci_digest:
        observed["ociDigest"] = oci_digest
    return observed


def snapshot_digest(release: Mapping[str, Any], *, oci_digest: str = "") -> str:
    """Flux's snapshot digest of Helm's release JSON (see the module docstring)."""
    return _sha256(go_json(observation(release, oci_digest=oci_digest)))
