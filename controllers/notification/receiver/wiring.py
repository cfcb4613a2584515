"""Receivers in a notification-controller process: the flag and the set-up.

The process entry point declares ``Flags`` beside its own flags and calls
``setup(mgr, flags=…)``, which adds the Receiver controller, the indexes the
webhook server and the Secret watch need, and the webhook server on
``--receiverAddr`` (Flux's flag name, default ``:9292``) as a task of the
manager, so it stops with the process.

A Receiver is reconciled again when its Secret changes only if the Secret
carries ``reconcile.fluxcd.io/watch: Enabled`` (Flux's default
``--watch-configs-label-selector``): watching every Secret would cache all
of them in memory; a change to another Secret is seen at the next interval.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any

from aiohttp import typedefs

from controllers.notification.receiver import reconciler, requesting, server, tokens
from shared.runtime import informers, manager, options

SECRET_INDEX = "secretRef"
WATCH_LABEL_SELECTOR = "reconcile.fluxcd.io/watch=Enabled"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Flags:
    """The Receiver flags of notification-controller."""

    # NB: camelCase because Flux names the flag --receiverAddr.
    receiverAddr: str = options.flag(  # noqa: N815
        "the address the webhook receiver endpoint binds to", default=":9292"
    )


def _secret_keys(obj: dict[str, Any]) -> list[str]:
    """``namespace/name`` of the Secret a Receiver refers to."""
    ref = (obj.get("spec") or {}).get("secretRef") or {}
    return [f"{obj['metadata'].get('namespace')}/{ref['name']}"] if ref.get("name") else []


def _version_changed(_: str, new: dict[str, Any], old: dict[str, Any] | None) -> bool:
    version = new.get("metadata", {}).get("resourceVersion")
    return old is None or version != old.get("metadata", {}).get("resourceVersion")


async def setup(
    mgr: manager.Manager, *, flags: Flags, middlewares: Sequence[typedefs.Middleware] = ()
) -> server.Handler:
    """Reconcile Receivers and serve their webhooks under ``mgr``; returns the handler.

    ``middlewares`` wrap the webhook server's application (the HTTP metrics).
    """
    secret_cache = tokens.SecretCache()
    controller = await mgr.add_controller(
        reconciler.ReceiverReconciler(api=mgr.api, secret_cache=secret_cache)
    )
    receivers = controller.informer
    receivers.add_index(server.WEBHOOK_PATH_INDEX, server.webhook_paths)
    receivers.add_index(SECRET_INDEX, _secret_keys)
    watched_secrets = await mgr.informer(
        "v1",
        "Secret",
        scope=informers.Scope(
            namespace=mgr.default_scope().namespace, label_selector=WATCH_LABEL_SELECTOR
        ),
    )
    controller.watch(
        watched_secrets,
        lambda secret: [
            informers.key_of(r) for r in receivers.by_index(SECRET_INDEX, informers.key_of(secret))
        ],
        when=_version_changed,
    )
    handler = server.Handler(
        api=mgr.api,
        receivers=receivers,
        secret_cache=secret_cache,
        requester=requesting.Requester(
            api=mgr.api,
            discovery=mgr.discovery,
            no_cross_namespace_refs=mgr.options.no_cross_namespace_refs,
        ),
    )
    mgr.add_task(
        functools.partial(server.serve, handler, addr=flags.receiverAddr, middlewares=middlewares)
    )
    return handler
