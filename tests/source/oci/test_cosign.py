"""``cosign``: key loading, signature checks and what is refused as unsupported."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from controllers.source.ocirepository import cosign
from shared.api import meta, source
from shared.oci import client, manifests, mediatypes
from tests.fixtures import cosignatures
from tests.fixtures import registry as registry_fixtures

registry = registry_fixtures.registry

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


def test_dsse_pre_authentication_encoding() -> None:
    # The DSSE specification's own example.
    assert cosign.pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_a_bundle_verifies_only_for_its_digest_and_key() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    other = ec.generate_private_key(ec.SECP256R1())
    keys = cosign.load_keys({"cosign.pub": _pem(key)})
    signed = cosignatures.bundle("r", "app", key, signs=DIGEST)

    assert cosign.check_bundle(signed, DIGEST, keys) == "cosign.pub"
    assert cosign.check_bundle(signed, "sha256:" + "cd" * 32, keys) is None
    assert cosign.check_bundle(signed, DIGEST, cosign.load_keys({"o.pub": _pem(other)})) is None
    tampered = json.loads(signed)
    tampered["dsseEnvelope"]["payloadType"] = "text/plain"
    assert cosign.check_bundle(json.dumps(tampered).encode(), DIGEST, keys) is None
    assert cosign.check_bundle(b"{}", DIGEST, keys) is None


async def _image(oci: client.Client, repository: str, tag: str) -> str:
    config = await oci.push_blob(repository, b"{}", media_type=mediatypes.OCI_EMPTY_CONFIG)
    layer = await oci.push_blob(repository, tag.encode(), media_type=mediatypes.OCI_LAYER_TAR_GZIP)
    data = manifests.image_manifest(config=config, layers=[layer])
    pushed = await oci.push_manifest(repository, tag, data, media_type=mediatypes.OCI_MANIFEST)
    return pushed.digest


async def test_cosign_v3_bundles_are_found_as_referrers_and_verified(
    oci: client.Client, registry: registry_fixtures.Registry
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    keys = cosign.load_keys({"cosign.pub": _pem(key)})
    signed = await _image(oci, "v3/app", "signed")
    tampered = await _image(oci, "v3/app", "tampered")
    legacy = await _image(oci, "v3/app", "legacy")
    await cosignatures.sign_bundle(registry.host, "v3/app", signed, key, signs=signed)
    await cosignatures.sign_bundle(registry.host, "v3/app", tampered, key, signs=signed)
    await cosignatures.sign(registry.host, "v3/app", legacy, key, signs=legacy)

    assert await cosign.verify(oci, "v3/app", signed, keys) == "cosign.pub"
    with pytest.raises(cosign.VerificationError, match="no signature bundle of"):
        await cosign.verify(oci, "v3/app", tampered, keys)
    # Without bundles, cosign v2's signature tag is read.
    assert await cosign.verify(oci, "v3/app", legacy, keys) == "cosign.pub"
