"""Registry credentials, and reading them from a ``kubernetes.io/dockerconfigjson`` Secret.

``from_dockerconfigjson(data, host)`` takes the Secret's ``.dockerconfigjson``
bytes (the controller reads the Secret through ``shared.kube.references``)
and returns the credentials for one registry host, or None when the file has
none for it. It matches hosts as Docker's config file does:

- a key equal to the host wins; otherwise a key whose host part (scheme and
  path stripped: ``https://ghcr.io/v1/`` → ``ghcr.io``) equals it;
- Docker Hub is one registry under several names: ``docker.io``,
  ``index.docker.io``, ``registry-1.docker.io`` and the legacy key
  ``https://index.docker.io/v1/`` all match each other;
- an entry's ``auth`` (base64 of ``username:password``) is used when present,
  else its ``username`` and ``password`` fields; ``registrytoken`` is a
  bearer token sent as is. ``identitytoken`` (an OAuth2 refresh token) is
  not supported and refused with a message saying so.

Matching is case-insensitive on the host. Nothing here performs I/O.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from typing import Any, Final

from shared.oci import errors

DOCKER_HUB_KEY: Final = "https://index.docker.io/v1/"
DOCKER_HUB_NAMES: Final = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})


@dataclasses.dataclass(frozen=True)
class Credentials:
    """Basic credentials (``username``/``password``) or a ready bearer ``token``."""

    username: str = ""
    password: str = ""
    token: str = ""

    def __repr__(self) -> str:
        # NB: never show secrets in logs or tracebacks.
        return f"Credentials(username={self.username!r}, password=***, token=***)"

    @property
    def identity(self) -> str:
        """What tells two credentials apart in a token cache key, without the secret."""
        return f"user:{self.username}" if self.username else "token"


def hostname(key: str) -> str:
    """The registry host named by a config key: scheme and path stripped, lowercased."""
    for scheme in ("https://", "http://"):
        if key.lower().startswith(scheme):
            key = key[len(scheme) :]
            break
    return key.split("/", 1)[0].lower()


def _aliases(host: str) -> frozenset[str]:
    host = hostname(host)
    if host in DOCKER_HUB_NAMES:
        return DOCKER_HUB_NAMES
    return frozenset({host})


def from_dockerconfigjson(data: bytes, host: str) -> Credentials | None:
    """The credentials for ``host`` in a ``.dockerconfigjson``; None when it has none.

    ``InvalidCredentialsError`` when the file is not JSON, has no ``auths``
    object, or the matching entry cannot be decoded.
    """
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.InvalidCredentialsError(".dockerconfigjson is not valid JSON") from exc
    auths = document.get("auths") if isinstance(document, dict) else None
    if not isinstance(auths, dict):
        raise errors.InvalidCredentialsError(".dockerconfigjson has no 'auths' object")
    names = _aliases(host)
    # Docker looks a key up exactly first (for Docker Hub, its legacy key), then by host part.
    preferred = [DOCKER_HUB_KEY] if names is DOCKER_HUB_NAMES else []
    exact = [key for key in auths if key in preferred or key.lower() in names]
    by_host = [key for key in auths if hostname(key) in names]
    candidates = sorted(exact, key=lambda key: key not in preferred) + by_host
    if not candidates:
        return None
    return _entry(auths[candidates[0]], candidates[0])


def _entry(entry: Any, key: str) -> Credentials:
    if not isinstance(entry, dict):
        raise errors.InvalidCredentialsError(f".dockerconfigjson entry {key!r} is not an object")
    if entry.get("identitytoken"):
        raise errors.InvalidCredentialsError(
            f".dockerconfigjson entry {key!r} has an identitytoken, which is not supported"
        )
    if entry.get("registrytoken"):
        return Credentials(token=str(entry["registrytoken"]))
    encoded = entry.get("auth")
    if encoded:
        try:
            decoded = base64.b64decode(str(encoded), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise errors.InvalidCredentialsError(
                f".dockerconfigjson entry {key!r}: 'auth' is not base64 of username:password"
            ) from exc
        username, sep, password = decoded.partition(":")
        if not sep or not username:
            raise errors.InvalidCredentialsError(
                f".dockerconfigjson entry {key!r}: 'auth' is not base64 of username:password"
            )
        return Credentials(username=username, password=password)
    username = str(entry.get("username") or "")
    if not username:
        raise errors.InvalidCredentialsError(
            f".dockerconfigjson entry {key!r} has neither 'auth' nor 'username'"
        )
    return Credentials(username=username, password=str(entry.get("password") or ""))
