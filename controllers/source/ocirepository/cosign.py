"""Cosign signatures made with a key pair: find them, check them.

Two layouts, looked for in Flux's order:

- **cosign v3 bundles** (``cosign sign --new-bundle-format``, v3's default):
  Sigstore bundles (``application/vnd.dev.sigstore.bundle.v0.3+json``)
  attached to ``<repo>@sha256:<hex>`` as OCI 1.1 referrers (the referrers
  API, else the referrers tag ``sha256-<hex>``). Each bundle's
  ``dsseEnvelope`` carries a base64 in-toto statement whose ``subject``
  names the signed digest, and signatures over DSSE's pre-authentication
  encoding of it (``pae``). As Flux verifies keyed bundles (offline, no
  transparency log), a bundle is accepted when its statement names the
  digest and one signature verifies with a trusted key.
- **cosign v2 signatures**, used when there are no bundles: an image in the
  same repository tagged ``sha256-<hex>.sig``. Each of its layers is a
  *simple signing* payload (media type
  ``application/vnd.dev.cosign.simplesigning.v1+json``), a JSON document
  whose ``critical.image.docker-manifest-digest`` names the signed
  manifest; the layer's annotation ``dev.cosignproject.cosign/signature``
  holds the base64 signature over the payload's bytes.

Trusted keys are PEM public keys (the Secret's ``*.pub`` entries): ECDSA
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
BUNDLE_MEDIA_TYPE: Final = "application/vnd.dev.sigstore.bundle.v0.3+json"
IN_TOTO_PAYLOAD_TYPE: Final = "application/vnd.in-toto+json"
SIGN_PREDICATE_TYPE: Final = "https://sigstore.dev/cosign/sign/v1"
"""The predicate of the statement ``cosign sign`` v3 signs (any predicate is accepted)."""
_STATEMENT_TYPES: Final = ("https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1")
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


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding of a payload: what a DSSE signature signs."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def statement_names(payload: bytes, digest: str) -> bool:
    """True when ``payload`` is an in-toto statement with ``digest`` among its subjects."""
    algorithm, _, hex_digest = digest.partition(":")
    try:
        statement = json.loads(payload)
        if statement.get("_type") not in _STATEMENT_TYPES:
            return False
        return any(
            subject.get("digest", {}).get(algorithm) == hex_digest
            for subject in statement.get("subject") or []
        )
    except (ValueError, TypeError, AttributeError):
        return False


def check_bundle(bundle: bytes, digest: str, keys: Mapping[str, PublicKey]) -> str | None:
    """The name of the key that verifies a bundle's DSSE envelope over a statement naming
    ``digest``; None when the bundle is not one, names another digest, or no key verifies."""
    try:
        envelope = json.loads(bundle)["dsseEnvelope"]
        payload_type = str(envelope["payloadType"])
        payload = base64.b64decode(envelope["payload"], validate=True)
        signatures = [
            base64.b64decode(entry["sig"], validate=True) for entry in envelope["signatures"]
        ]
    except (ValueError, KeyError, TypeError, binascii.Error):
        return None
    if payload_type != IN_TOTO_PAYLOAD_TYPE or not statement_names(payload, digest):
        return None
    signed = pae(payload_type, payload)
    for name, key in keys.items():
        if any(check(signed, signature, key) for signature in signatures):
            return name
    return None


async def _bundles(oci: client.Client, repository: str, digest: str) -> list[bytes]:
    """The Sigstore bundles attached to ``repository@digest`` as referrers."""
    found = []
    for referrer in await oci.referrers(repository, digest):
        if referrer.artifact_type != BUNDLE_MEDIA_TYPE:
            continue
        manifest = await oci.get_manifest(repository, referrer.digest)
        for layer in manifest.layers:
            if layer.media_type == BUNDLE_MEDIA_TYPE:
                found.append(await _read(oci, repository, layer.digest))
    return found


async def verify(
    oci: client.Client, repository: str, digest: str, keys: Mapping[str, PublicKey]
) -> str:
    """The name of the key that verified a signature of ``repository@digest``.

    Raises ``VerificationError`` when there is no signature, or none that
    names ``digest`` and verifies with one of ``keys``.
    """
    bundles = await _bundles(oci, repository, digest)
    if bundles:
        for bundle in bundles:
            signer = check_bundle(bundle, digest, keys)
            if signer is not None:
                return signer
        raise VerificationError(
            f"no signature bundle of '{digest}' verifies with the keys {', '.join(sorted(keys))}"
        )
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
