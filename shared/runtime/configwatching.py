"""Config watchers: a change to a watched ConfigMap or Secret triggers the objects using it.

Flux's appliers read ConfigMaps and Secrets beyond their source (values,
substitution variables, decryption keys, kubeconfigs), all in their own
namespace. As in Flux, only objects matching ``--watch-configs-label-selector``
(by default ``reconcile.fluxcd.io/watch=Enabled``) are watched: the
informers list and watch with that selector, so Secrets without the label
never reach the process. Each create, update (a new ``resourceVersion``) or
delete of a watched object enqueues every object whose ``keys`` name it
(``Kind/namespace/name``), at once, instead of waiting for its interval. An
empty selector watches every ConfigMap and Secret (Flux's meaning of an empty
selector).

NB: Flux watches these kinds metadata-only; the informers here cache the
selected objects whole (data included), so the selector also bounds the
memory and the secrets the process holds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.runtime import controller as controllers
from shared.runtime import informers, manager

WATCH_LABEL = "reconcile.fluxcd.io/watch"
WATCH_ENABLED = "Enabled"
DEFAULT_SELECTOR = f"{WATCH_LABEL}={WATCH_ENABLED}"
CONFIG_INDEX = "config"
CONFIG_KINDS = ("ConfigMap", "Secret")

Keys = Callable[[dict[str, Any]], list[str]]
"""``Kind/namespace/name`` of every ConfigMap and Secret an object (as JSON) reads."""


def changed(_: str, new: dict[str, Any], old: dict[str, Any] | None) -> bool:
    """Flux's ResourceVersionChangedPredicate: creations, deletions and real updates."""
    if old is None:
        return True
    return bool(new["metadata"].get("resourceVersion") != old["metadata"].get("resourceVersion"))


async def watch_configs(
    mgr: manager.Manager,
    reconciles: controllers.Controller,
    owners: informers.Informer,
    *,
    keys: Keys,
    selector: str,
) -> None:
    """Requeue the ``owners`` whose ``keys`` name a watched ConfigMap or Secret when it changes."""
    owners.add_index(CONFIG_INDEX, keys)
    namespace = mgr.default_scope().namespace
    scope = informers.Scope(namespace=namespace, label_selector=selector or None)
    for kind in CONFIG_KINDS:
        watched = await mgr.informer("v1", kind, scope=scope)

        def referencing(obj: dict[str, Any], kind: str = kind) -> list[str]:
            metadata = obj["metadata"]
            key = f"{kind}/{metadata.get('namespace')}/{metadata['name']}"
            return [informers.key_of(k) for k in owners.by_index(CONFIG_INDEX, key)]

        reconciles.watch(watched, referencing, when=changed)
