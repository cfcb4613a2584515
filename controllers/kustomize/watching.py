"""Config watchers of the Kustomization: which ConfigMaps and Secrets it reads.

A Kustomization depends on ConfigMaps and Secrets beyond its source:
``postBuild.substituteFrom``, ``decryption.secretRef`` and ``kubeConfig``'s
``secretRef`` / ``configMapRef``, all in its own namespace (``config_keys``).
``shared.runtime.configwatching`` watches the labelled ones and requeues the
Kustomizations that name a changed one.
"""

from __future__ import annotations

from typing import Any

from shared.runtime import configwatching, informers, manager
from shared.runtime import controller as controllers

DEFAULT_SELECTOR = configwatching.DEFAULT_SELECTOR


def config_keys(obj: dict[str, Any]) -> list[str]:
    """``Kind/namespace/name`` of every ConfigMap and Secret a Kustomization (JSON) reads."""
    namespace = obj["metadata"].get("namespace")
    spec = obj.get("spec") or {}
    refs: list[tuple[str, str | None]] = []
    kube_config = spec.get("kubeConfig") or {}
    refs.append(("ConfigMap", (kube_config.get("configMapRef") or {}).get("name")))
    refs.append(("Secret", (kube_config.get("secretRef") or {}).get("name")))
    refs.append(("Secret", ((spec.get("decryption") or {}).get("secretRef") or {}).get("name")))
    for ref in (spec.get("postBuild") or {}).get("substituteFrom") or []:
        refs.append((ref.get("kind", ""), ref.get("name")))
    return sorted({f"{kind}/{namespace}/{name}" for kind, name in refs if name})


async def watch_configs(
    mgr: manager.Manager,
    reconciles: controllers.Controller,
    kustomizations: informers.Informer,
    *,
    selector: str,
) -> None:
    """Requeue the Kustomizations that reference a watched ConfigMap or Secret when it changes."""
    await configwatching.watch_configs(
        mgr, reconciles, kustomizations, keys=config_keys, selector=selector
    )
