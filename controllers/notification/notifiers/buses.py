"""Message bus notifiers: nats (the event JSON published on a subject)."""

from __future__ import annotations

import dataclasses

from controllers.notification.notifiers import base
from shared.api import notification


def _nats(event: notification.Event, target: base.Target) -> list[base.Message]:
    """The event, as the generic type sends it, on the ``channel`` subject of the address.

    Credentials, the first present wins as in Flux: the Secret's ``creds``
    (a user JWT and NKey seed), its ``nkey`` seed, then username and password.
    """
    if not target.address:
        raise base.NotifierError("NATS server (address) cannot be empty")
    if not target.channel:
        raise base.NotifierError("NATS subject (channel) cannot be empty")
    creds = target.secret_data.get("creds", b"").decode("utf-8", errors="replace")
    nkey = target.secret_data.get("nkey", b"").decode("utf-8", errors="replace").strip()
    message = base.Publish(
        server=target.address,
        subject=target.channel,
        payload=base.event_body(event),
    )
    if creds:
        return [dataclasses.replace(message, creds=creds)]
    if nkey:
        return [dataclasses.replace(message, nkey_seed=nkey)]
    if target.username and target.password:
        return [dataclasses.replace(message, username=target.username, password=target.password)]
    return [message]


NOTIFIERS: dict[str, base.Notifier] = {"nats": _nats}
