"""Reads of the Secrets and ConfigMaps an object refers to, with one not-found error.

Every controller reads credentials, kubeconfigs, decryption keys and
substitution variables from Secrets and ConfigMaps in the referrer's
namespace. ``get`` returns the object as the API serves it; ``secret_data``
decodes a Secret's ``data`` (and ``stringData``) to bytes. A missing object
raises ``ReferenceNotFoundError``, which names the kind, namespace and name
the way Flux's messages do (``secret 'ns/name' not found``).
"""

from __future__ import annotations

import base64
from typing import Any, Literal

from shared.kube import client, errors, resources

Kind = Literal["Secret", "ConfigMap"]
_RESOURCES = {"Secret": resources.SECRETS, "ConfigMap": resources.CONFIG_MAPS}


class ReferenceNotFoundError(errors.NotFoundError):
    """A referenced Secret or ConfigMap does not exist."""

    def __init__(self, kind: Kind, namespace: str, name: str) -> None:
        super().__init__(f"{kind.lower()} '{namespace}/{name}' not found", status=404)
        self.kind = kind
        self.namespace = namespace
        self.name = name


def path(kind: Kind, namespace: str, name: str) -> str:
    """The REST path of a Secret or ConfigMap."""
    return _RESOURCES[kind].path(namespace=namespace, name=name)


async def get(api: client.Client, kind: Kind, namespace: str, name: str) -> dict[str, Any]:
    """The Secret or ConfigMap ``namespace/name``; ``ReferenceNotFoundError`` if missing."""
    try:
        found: dict[str, Any] = await api.request("GET", path(kind, namespace, name), verb="get")
    except errors.NotFoundError as missing:
        raise ReferenceNotFoundError(kind, namespace, name) from missing
    return found


def decode(secret: dict[str, Any]) -> dict[str, bytes]:
    """A Secret's entries as bytes: ``data`` decoded, ``stringData`` (if served) encoded."""
    data = {key: base64.b64decode(value) for key, value in (secret.get("data") or {}).items()}
    for key, value in (secret.get("stringData") or {}).items():
        data[key] = str(value).encode()
    return data


async def secret_data(api: client.Client, namespace: str, name: str) -> dict[str, bytes]:
    """The decoded entries of Secret ``namespace/name``; ``ReferenceNotFoundError`` if missing."""
    return decode(await get(api, "Secret", namespace, name))
