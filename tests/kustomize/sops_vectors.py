"""Test-side SOPS encryption, written from the SOPS file format, to make test vectors.

Independent of ``controllers.kustomize.decrypting``: it walks the tree
itself, encrypts each leaf with AES-256-GCM under a fresh data key (32-byte
IV, the key path as additional data), hashes the plaintext leaves into the
MAC and age-encrypts the data key for each recipient. The real ``sops``
binary, when installed, is the second judge (see test_decrypting_sops_cli).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import os
import re
from collections.abc import Sequence
from typing import Any

import pyrage
from cryptography.hazmat.primitives.ciphers import aead


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _plain(value: Any) -> tuple[bytes, str, bytes]:
    """(bytes encrypted, SOPS type, bytes hashed into the MAC)."""
    if isinstance(value, bool):
        text = "true" if value else "false"
        return text.encode(), "bool", text.title().encode()
    if isinstance(value, int):
        return str(value).encode(), "int", str(value).encode()
    if isinstance(value, float):
        return repr(value).encode(), "float", repr(value).encode()
    return str(value).encode(), "str", str(value).encode()


def seal(data_key: bytes, plaintext: bytes, kind: str, additional: bytes) -> str:
    iv = os.urandom(32)
    sealed = aead.AESGCM(data_key).encrypt(iv, plaintext, additional)
    data, tag = sealed[:-16], sealed[-16:]
    return f"ENC[AES256_GCM,data:{_b64(data)},iv:{_b64(iv)},tag:{_b64(tag)},type:{kind}]"


def encrypt(
    tree: dict[str, Any],
    recipients: Sequence[pyrage.x25519.Recipient],
    *,
    unencrypted_suffix: str | None = "_unencrypted",
    encrypted_regex: str | None = None,
    unencrypted_regex: str | None = None,
    encrypted_suffix: str | None = None,
    mac_only_encrypted: bool = False,
) -> dict[str, Any]:
    data_key = os.urandom(32)
    digest = hashlib.sha512()
    if mac_only_encrypted:
        digest.update(hashlib.sha256(b"sops").digest())

    def encrypted(path: list[str]) -> bool:
        if encrypted_regex:
            return any(re.search(encrypted_regex, part) for part in path)
        if unencrypted_regex:
            return not any(re.search(unencrypted_regex, part) for part in path)
        if encrypted_suffix:
            return any(part.endswith(encrypted_suffix) for part in path)
        if unencrypted_suffix:
            return not any(part.endswith(unencrypted_suffix) for part in path)
        return True

    def walk(value: Any, path: list[str]) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, [*path, k]) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, path) for v in value]
        if value is None:
            return None
        raw, kind, hashed = _plain(value)
        secret = encrypted(path)
        if secret or not mac_only_encrypted:
            digest.update(hashed)
        if not secret or value == "":
            return value
        return seal(data_key, raw, kind, "".join(f"{p}:" for p in path).encode())

    out: dict[str, Any] = walk(tree, [])
    lastmodified = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    stanza: dict[str, Any] = {
        "age": [
            {
                "recipient": str(recipient),
                "enc": pyrage.encrypt(data_key, [recipient], armored=True).decode(),
            }
            for recipient in recipients
        ],
        "lastmodified": lastmodified,
        "mac": seal(data_key, digest.hexdigest().upper().encode(), "str", lastmodified.encode()),
        "version": "3.11.0",
    }
    for key, value in (
        ("unencrypted_suffix", unencrypted_suffix),
        ("encrypted_regex", encrypted_regex),
        ("unencrypted_regex", unencrypted_regex),
        ("encrypted_suffix", encrypted_suffix),
    ):
        if value and (
            key != "unencrypted_suffix"
            or not (encrypted_regex or unencrypted_regex or encrypted_suffix)
        ):
            stanza[key] = value
    if mac_only_encrypted:
        stanza["mac_only_encrypted"] = True
    out["sops"] = stanza
    return out


def age_secret(*identities: pyrage.x25519.Identity, name: str = "sops-age") -> dict[str, Any]:
    """A Secret as read from the API, holding identities in a ``.agekey`` entry."""
    text = "# created for a test\n" + "".join(f"{identity}\n" for identity in identities)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "data": {"identity.agekey": _b64(text.encode())},
    }
