"""The Receivers' Secrets as the last reconcile read them, shared with the webhook server.

The reconciler reads a Receiver's Secret (``token``, and for gcr ``email``
and ``audience``), derives ``status.webhookPath`` from the token and records
the entries here; the webhook server verifies requests with the same
entries. So a request costs no Secret read, and the token that checks a
signature is the one the path was derived from. When a Receiver's entry is
missing (the process just started), the server reads the Secret once and
records it. A failed or final reconcile forgets the entry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from shared.api import notification
from shared.kube import client, references


def webhook_path(token: str, *, name: str, namespace: str) -> str:
    """``/hook/`` and the hex sha256 of token, name and namespace, as Flux derives it."""
    digest = hashlib.sha256(f"{token}{name}{namespace}".encode()).hexdigest()
    return f"{notification.RECEIVER_WEBHOOK_PATH_PREFIX}{digest}"


class SecretCache:
    """Secret entries per Receiver (``namespace/name``), as last read."""

    def __init__(self) -> None:
        self._entries: dict[str, Mapping[str, bytes]] = {}

    def remember(self, receiver_key: str, data: Mapping[str, bytes]) -> None:
        self._entries[receiver_key] = dict(data)

    def forget(self, receiver_key: str) -> None:
        self._entries.pop(receiver_key, None)

    async def get(
        self, api: client.Client, *, receiver_key: str, namespace: str, secret_name: str
    ) -> Mapping[str, bytes]:
        """The entries for ``receiver_key``; read (and remembered) when not known yet.

        ``references.ReferenceNotFoundError`` when the Secret is missing.
        """
        known = self._entries.get(receiver_key)
        if known is None:
            known = await references.secret_data(api, namespace, secret_name)
            self._entries[receiver_key] = known
        return known
