"""SOPS documents encrypted to OpenPGP keys (by the real ``sops``), opened with gpg."""

from __future__ import annotations

import base64
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from controllers.kustomize import decrypting
from shared.kube import manifests
from tests.kustomize import openpgp_keys

pytestmark = pytest.mark.skipif(
    openpgp_keys.SOPS is None or openpgp_keys.GPG is None, reason="sops or gpg is not installed"
)

SECRET_YAML = """\
apiVersion: v1
kind: Secret
metadata:
  name: db
stringData:
  password: hunter2
  port: 5432
"""


@pytest.fixture(scope="module")
def key() -> Iterator[openpgp_keys.Key]:
    with openpgp_keys.generated_key() as made:
        yield made


@pytest.fixture(scope="module")
def stranger() -> Iterator[openpgp_keys.Key]:
    with openpgp_keys.generated_key() as made:
        yield made


def _encrypted(tmp_path: pathlib.Path, key: openpgp_keys.Key) -> dict[str, Any]:
    source = tmp_path / "secret.yaml"
    source.write_text(SECRET_YAML)
    encrypted = openpgp_keys.sops_encrypt(source, key, "--encrypted-regex", "^stringData$")
    return manifests.load_all(encrypted.decode())[0]


def test_a_document_encrypted_to_an_openpgp_key_opens_with_its_asc_entry(
    tmp_path: pathlib.Path, key: openpgp_keys.Key
) -> None:
    document = _encrypted(tmp_path, key)
    assert document["sops"]["pgp"][0]["fp"] == key.fingerprint
    keys = decrypting.keys_from_secret(key.secret("sops-gpg"))
    assert keys.pgp
    assert not keys.age
    assert decrypting.decrypt_tree(document, keys) == manifests.load_all(SECRET_YAML)[0]


def test_another_openpgp_key_cannot_open_it(
    tmp_path: pathlib.Path, key: openpgp_keys.Key, stranger: openpgp_keys.Key
) -> None:
    document = _encrypted(tmp_path, key)
    keys = decrypting.keys_from_secret(stranger.secret("wrong"))
    with pytest.raises(decrypting.DecryptionError, match="0 successful groups"):
        decrypting.decrypt_tree(document, keys)


def test_an_asc_entry_that_is_not_a_private_key_is_refused() -> None:
    secret = {"data": {"key.asc": base64.b64encode(b"not a key").decode()}}
    with pytest.raises(decrypting.DecryptionError, match=r"'key\.asc': not an armored OpenPGP key"):
        decrypting.keys_from_secret(secret)


def test_a_document_only_cloud_kms_opens_names_the_key_types(
    tmp_path: pathlib.Path, key: openpgp_keys.Key
) -> None:
    document = _encrypted(tmp_path, key)
    stanza = {k: v for k, v in document["sops"].items() if k != "pgp"}
    stanza["kms"] = [{"arn": "arn:aws:kms:eu-west-1:1:key/k", "enc": "c2VjcmV0"}]
    stanza["hc_vault"] = [{"vault_address": "https://vault", "enc": "vault:v1:x"}]
    keys = decrypting.Keys(service_account="sops-kms")
    with pytest.raises(decrypting.DecryptionError) as refused:
        decrypting.decrypt_tree({**document, "sops": stanza}, keys)
    assert str(refused.value) == (
        "Error getting data key: encrypted only with AWS KMS, HashiCorp Vault keys, which "
        "Headwater does not support (use age or OpenPGP keys); service account 'sops-kms' "
        "is used for cloud KMS only"
    )


@pytest.mark.parametrize(
    ("obj", "encrypted"),
    [
        ({"apiVersion": "v1", "kind": "Secret", "sops": {"mac": "x"}}, True),
        ({"apiVersion": "v1", "kind": "Secret", "data": {}}, False),
        ({"apiVersion": "v1", "kind": "ConfigMap", "sops": {"mac": "x"}}, False),
        (
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"annotations": {decrypting.DECRYPT_ANNOTATION: "disabled"}},
                "sops": {"mac": "x"},
            },
            False,
        ),
    ],
)
def test_encrypted_secrets_are_found_as_flux_finds_them(
    obj: dict[str, Any], encrypted: bool
) -> None:
    assert decrypting.is_encrypted_secret(obj) is encrypted
