"""What a HelmRelease (as JSON) reads besides itself, as index keys for the watches.

- ``source_keys``: the object whose artifact is its chart
  (``Kind/namespace/name``): the ``chartRef`` target, or the HelmChart it
  owns for ``spec.chart``. A new artifact revision there requeues it;
- ``config_keys``: the ConfigMaps and Secrets of ``valuesFrom`` and
  ``kubeConfig.secretRef``, in its namespace, for the config watchers
  (``shared.runtime.configwatching``).
"""

from __future__ import annotations

from typing import Any


def source_keys(obj: dict[str, Any]) -> list[str]:
    """``Kind/namespace/name`` of the chart's source of a HelmRelease."""
    metadata = obj["metadata"]
    namespace = metadata.get("namespace")
    spec = obj.get("spec") or {}
    ref = spec.get("chartRef")
    if ref:
        return [f"{ref.get('kind')}/{ref.get('namespace') or namespace}/{ref.get('name')}"]
    template = (spec.get("chart") or {}).get("spec") or {}
    chart_namespace = (template.get("sourceRef") or {}).get("namespace") or namespace
    return [f"HelmChart/{chart_namespace}/{namespace}-{metadata['name']}"]


def config_keys(obj: dict[str, Any]) -> list[str]:
    """``Kind/namespace/name`` of every ConfigMap and Secret a HelmRelease reads."""
    namespace = obj["metadata"].get("namespace")
    spec = obj.get("spec") or {}
    refs: list[tuple[str, str | None]] = [
        ("Secret", ((spec.get("kubeConfig") or {}).get("secretRef") or {}).get("name"))
    ]
    for ref in spec.get("valuesFrom") or []:
        refs.append((ref.get("kind", ""), ref.get("name")))
    return sorted({f"{kind}/{namespace}/{name}" for kind, name in refs if name})


def revision_changed(_: str, new: dict[str, Any], old: dict[str, Any] | None) -> bool:
    """A source's artifact revision (or digest) changed: its charts may have."""

    def artifact(obj: dict[str, Any] | None) -> tuple[Any, Any]:
        found = ((obj or {}).get("status") or {}).get("artifact") or {}
        return found.get("revision"), found.get("digest")

    return artifact(new) != artifact(old)
