"""``cosign``: key loading, signature checks and what is refused as unsupported."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from controllers.source.ocirepository import cosign
from shared.api import meta, source

DIGEST = "sha256:" + "ab" * 32
PAYLOAD = json.dumps(
    {
        "critical": {
            "identity": {"docker-reference": "r/app"},
            "image": {"docker-manifest-digest": DIGEST},
            "type": cosign.PAYLOAD_TYPE,
        },
        "optional": None,
    }
).encode()


def _pem(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_signatures_of_each_key_type_verify_and_others_do_not() -> None:
    ecdsa = ec.generate_private_key(ec.SECP256R1())
    edwards = ed25519.Ed25519PrivateKey.generate()
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    keys = cosign.load_keys(
        {"a.pub": _pem(ecdsa), "b.pub": _pem(edwards), "c.pub": _pem(rsa_key), "x": b"ignored"}
    )
    signatures = {
        "a.pub": ecdsa.sign(PAYLOAD, ec.ECDSA(hashes.SHA256())),
        "b.pub": edwards.sign(PAYLOAD),
        "c.pub": rsa_key.sign(PAYLOAD, padding.PKCS1v15(), hashes.SHA256()),
    }

    assert sorted(keys) == ["a.pub", "b.pub", "c.pub"]
    for name, signature in signatures.items():
        assert [k for k, key in keys.items() if cosign.check(PAYLOAD, signature, key)] == [name]
        assert not cosign.check(PAYLOAD + b" ", signature, keys[name])


def test_payload_digest_reads_only_cosign_payloads() -> None:
    assert cosign.payload_digest(PAYLOAD) == DIGEST
    assert cosign.payload_digest(b"{}") is None
    assert cosign.payload_digest(b"not json") is None
    other = json.loads(PAYLOAD)
    other["critical"]["type"] = "something else"
    assert cosign.payload_digest(json.dumps(other).encode()) is None


def test_keys_must_be_present_and_public() -> None:
    with pytest.raises(cosign.VerificationError, match=r"no '\*\.pub' public key"):
        cosign.load_keys({"cosign.key": b"x"})
    with pytest.raises(cosign.VerificationError, match=r"'bad\.pub' is not a PEM public key"):
        cosign.load_keys({"bad.pub": b"-----BEGIN NOTHING-----"})


def test_signature_tag_and_unsupported_modes() -> None:
    assert cosign.signature_tag(DIGEST) == f"sha256-{'ab' * 32}.sig"
    secret = meta.LocalObjectReference(name="keys")
    assert cosign.unsupported(source.OCIRepositoryVerification(secret_ref=secret)) is None
    keyless = cosign.unsupported(source.OCIRepositoryVerification())
    assert keyless is not None
    assert "keyless" in keyless
    notation = cosign.unsupported(
        source.OCIRepositoryVerification(provider="notation", secret_ref=secret)
    )
    assert notation is not None
    assert "'notation' is not supported" in notation
