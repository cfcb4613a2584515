"""HMAC signatures of webhook bodies, checked in constant time.

Two formats, as the senders write them:

- ``<hash>=<hex digest>`` with hash ``sha1``, ``sha256`` or ``sha512``
  (GitHub's ``X-Hub-Signature-256``/``X-Hub-Signature``, Bitbucket's
  ``X-Hub-Signature``, the generic-hmac ``X-Signature``): ``check_prefixed``;
- a bare hex HMAC-SHA1 (Nexus' ``X-Nexus-Webhook-Signature``): ``check_sha1_hex``.

Failures raise ``SignatureError`` with the messages Flux reports (through
go-github's validation): ``missing signature``, ``error parsing signature
"…"``, ``unknown hash type prefix: "…"``, ``error decoding signature "…"``
and ``payload signature check failed``.
"""

from __future__ import annotations

import hashlib
import hmac

_HASHES = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


class SignatureError(ValueError):
    """A signature is missing, malformed or does not match the body."""


def sign(body: bytes, key: bytes, *, hash_name: str = "sha256") -> str:
    """``<hash>=<hex HMAC of body>``: what a sender puts in a prefixed signature header."""
    return f"{hash_name}=" + hmac.new(key, body, _HASHES[hash_name]).hexdigest()


def check_prefixed(signature: str, body: bytes, key: bytes) -> None:
    """Check a ``<hash>=<hex>`` signature of ``body`` under ``key``; ``SignatureError`` if not."""
    if not signature:
        raise SignatureError("missing signature")
    prefix, separator, encoded = signature.partition("=")
    if not separator:
        raise SignatureError(f'error parsing signature "{signature}"')
    digest = _HASHES.get(prefix)
    if digest is None:
        raise SignatureError(f'unknown hash type prefix: "{prefix}"')
    try:
        given = bytes.fromhex(encoded)
    except ValueError as error:
        raise SignatureError(f'error decoding signature "{signature}": {error}') from error
    if not hmac.compare_digest(given, hmac.new(key, body, digest).digest()):
        raise SignatureError("payload signature check failed")


def check_sha1_hex(signature: str, body: bytes, key: bytes) -> bool:
    """Whether ``signature`` is the hex HMAC-SHA1 of ``body`` under ``key`` (constant time)."""
    expected = hmac.new(key, body, hashlib.sha1).hexdigest()
    return hmac.compare_digest(signature.encode(), expected.encode())


def equal(given: str, expected: str) -> bool:
    """Constant-time string equality, for tokens sent as they are (GitLab, Harbor)."""
    return hmac.compare_digest(given.encode(), expected.encode())
