"""Cosign signatures made with a key pair: find them, check them.

Cosign stores the signatures of ``<repo>@sha256:<hex>`` as an image in the
same repository, tagged ``sha256-<hex>.sig``. Each of its layers is a
*simple signing* payload (media type
``application/vnd.dev.cosign.simplesigning.v1+json``), a JSON document whose
``critical.image.docker-manifest-digest`` names the signed manifest; the
layer's annotation ``dev.cosignproject.cosign/signature`` holds the base64
signature over the payload's bytes. A signature is accepted when one
payload names the digest being pulled and its signature verifies with one
of the trusted public keys (PEM, the Secret's ``*.pub`` entries): ECDSA
with SHA-256 (cosign's default P-256 keys), Ed25519, or RSA PKCS#1 v1.5 with
SHA-256.

Keyless signatures (Fulcio certificates, Rekor) and Notation are not
implemented; ``unsupported`` names what a spec asks for that is not.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Final

from cryptography import exceptions as crypto_exceptions
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from shared.api import source
from shared.oci import client, errors

SIMPLE_SIGNING_MEDIA_TYPE: Final = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION: Final = "dev.cosignproject.cosign/signature"
PAYLOAD_TYPE: Final = "cosign container image signature"
_MAX_PAYLOAD: Final = 1 << 20

PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey


class VerificationError(Exception):
    """No trusted signature: the message says why (shown in ``SourceVerified``)."""


def signature_tag(digest: str) -> str:
    """``sha256-<hex>.sig``: where cosign puts the signatures of ``digest``."""
    algorithm, _, hex_digest = digest.partition(":")
    return f"{algorithm}-{hex_digest}.sig"


def unsupported(verify: source.HelmChartVerification) -> str | None:
    """Why ``verify`` cannot be honoured, or None when it is cosign with keys."""
    if verify.provider == "notation":
        return "verification with provider 'notation' is not supported; use 'cosign' with keys"
    if verify.secret_ref is None:
        return (
            "keyless cosign verification (matchOIDCIdentity, Fulcio/Rekor) is not supported; "
            "set spec.verify.secretRef to a Secret with cosign public keys (*.pub)"
        )
    return None


def load_keys(secret: Mapping[str, bytes]) -> dict[str, PublicKey]:
    """The public keys of a Secret's ``*.pub`` entries, by entry name."""
    keys: dict[str, PublicKey] = {}
    for name, data in sorted(secret.items()):
        if not name.endswith(".pub"):
            continue
        try:
            key = serialization.load_pem_public_key(data)
        except ValueError as exc:
            raise VerificationError(f"'{name}' is not a PEM public key") from exc
        if not isinstance(key, PublicKey):
            raise VerificationError(f"'{name}' is a {type(key).__name__}, not a cosign key")
        keys[name] = key
    if not keys:
        raise VerificationError("the verification Secret has no '*.pub' public key")
    return keys


def check(payload: bytes, signature: bytes, key: PublicKey) -> bool:
    """True when ``signature`` over ``payload`` verifies with ``key``."""
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, payload)
        else:
            key.verify(signature, payload, padding.PKCS1v15(), hashes.SHA256())
    except crypto_exceptions.InvalidSignature:
        return False
    return True


def payload_digest(payload: bytes) -> str | None:
    """The manifest digest a simple-signing payload signs, or None if it is not one."""
    try:
        document = json.loads(payload)
        critical = document["critical"]
        if critical.get("type") != PAYLOAD_TYPE:
            return None
        digest = critical["image"]["docker-manifest-digest"]
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return digest if isinstance(digest, str) else None


async def verify(
    oci: client.Client, repository: str, digest: str, keys: Mapping[str, PublicKey]
) -> str:
    """The name of the key that verified a signature of ``repository@digest``.

    Raises ``VerificationError`` when there is no signature, or none that
    names ``digest`` and verifies with one of ``keys``.
    """
    tag = signature_tag(digest)
    try:
        signatures = await oci.get_manifest(repository, tag)
    except errors.NotFoundError as exc:
        raise VerificationError(f"no cosign signature found for '{digest}' (tag '{tag}')") from exc
    for layer in signatures.layers:
        encoded = layer.annotations.get(SIGNATURE_ANNOTATION)
        if layer.media_type != SIMPLE_SIGNING_MEDIA_TYPE or not encoded:
            continue
        try:
            signature = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            continue
        payload = await _read(oci, repository, layer.digest)
        if payload_digest(payload) != digest:
            continue
        for name, key in keys.items():
            if check(payload, signature, key):
                return name
    raise VerificationError(
        f"no signature of '{digest}' verifies with the keys {', '.join(sorted(keys))}"
    )


async def _read(oci: client.Client, repository: str, digest: str) -> bytes:
    async with oci.open_blob(repository, digest, max_size=_MAX_PAYLOAD) as reader:
        return b"".join([chunk async for chunk in reader.chunks()])
