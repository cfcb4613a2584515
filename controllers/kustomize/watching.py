"""Config watchers: a change to a watched ConfigMap or Secret triggers its Kustomizations.

A Kustomization depends on ConfigMaps and Secrets beyond its source:
``postBuild.substituteFrom``, ``decryption.secretRef`` and ``kubeConfig``'s
``secretRef`` / ``configMapRef``, all in its own namespace. As in Flux, only
objects matching ``--watch-configs-label-selector`` (by default
``reconcile.fluxcd.io/watch=Enabled``) are watched: the informers list and
watch with that selector, so Secrets without the label never reach this
process. Each create, update (a new ``resourceVersion``) or delete of a
watched object enqueues every Kustomization that references it, at once,
instead of waiting for ``spec.interval``. An empty selector watches every
ConfigMap and Secret (Flux's meaning of an empty selector).

NB: Flux watches these kinds metadata-only; the informers here cache the
selected objects whole (data included), so the selector also bounds the
memory and the secrets this process holds.
"""

from __future__ import annotations

from typing import Any

from shared.runtime import controller as controllers
from shared.runtime import informers, manager

WATCH_LABEL = "reconcile.fluxcd.io/watch"
WATCH_ENABLED = "Enabled"
DEFAULT_SELECTOR = f"{WATCH_LABEL}={WATCH_ENABLED}"
CONFIG_INDEX = "config"
CONFIG_KINDS = ("ConfigMap", "Secret")


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


def _changed(_: str, new: dict[str, Any], old: dict[str, Any] | None) -> bool:
    """Flux's ResourceVersionChangedPredicate: creations, deletions and real updates."""
    if old is None:
        return True
    return bool(new["metadata"].get("resourceVersion") != old["metadata"].get("resourceVersion"))


async def watch_configs(
    mgr: manager.Manager,
    reconciles: controllers.Controller,
    kustomizations: informers.Informer,
    *,
    selector: str,
) -> None:
    """Requeue the Kustomizations that reference a watched ConfigMap or Secret when it changes."""
    kustomizations.add_index(CONFIG_INDEX, config_keys)
    namespace = mgr.default_scope().namespace
    scope = informers.Scope(namespace=namespace, label_selector=selector or None)
    for kind in CONFIG_KINDS:
        watched = await mgr.informer("v1", kind, scope=scope)

        def referencing(obj: dict[str, Any], kind: str = kind) -> list[str]:
            metadata = obj["metadata"]
            key = f"{kind}/{metadata.get('namespace')}/{metadata['name']}"
            return [informers.key_of(k) for k in kustomizations.by_index(CONFIG_INDEX, key)]

        reconciles.watch(watched, referencing, when=_changed)
