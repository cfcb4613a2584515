"""SOPS decryption with age: types, key rules, MAC checks, keys from Secrets, objects."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pyrage
import pytest

from controllers.kustomize import decrypting, sopsfiles
from tests.kustomize import sops_vectors

IDENTITY = pyrage.x25519.Identity.generate()
OTHER = pyrage.x25519.Identity.generate()
KEYS = decrypting.Keys(age=(IDENTITY,))

SECRET: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "db", "namespace": "apps"},
    "type": "Opaque",
    "stringData": {
        "password": "hunter2",
        "port": 5432,
        "ratio": 0.25,
        "enabled": True,
        "off": False,
        "empty": "",
        "nothing": None,
        "list": ["a", 2, {"nested": "deep"}],
        "note_unencrypted": "visible",
    },
}


@pytest.mark.parametrize(
    "rules",
    [
        {},
        {"encrypted_regex": "^(data|stringData)$"},
        {"unencrypted_regex": "^(apiVersion|kind|metadata|type)$"},
        {"encrypted_suffix": "word"},
        {"encrypted_regex": "^stringData$", "mac_only_encrypted": True},
    ],
    ids=["default-suffix", "encrypted-regex", "unencrypted-regex", "encrypted-suffix", "mac-only"],
)
def test_round_trip_restores_every_type(rules: dict[str, Any]) -> None:
    encrypted = sops_vectors.encrypt(copy.deepcopy(SECRET), [IDENTITY.to_public()], **rules)
    assert encrypted["stringData"]["nothing"] is None
    assert decrypting.decrypt_tree(encrypted, KEYS) == SECRET


def test_values_are_really_encrypted_and_rules_respected() -> None:
    encrypted = sops_vectors.encrypt(
        copy.deepcopy(SECRET), [IDENTITY.to_public()], encrypted_regex="^stringData$"
    )
    assert encrypted["metadata"] == SECRET["metadata"]
    assert encrypted["stringData"]["password"].startswith("ENC[AES256_GCM,")
    assert encrypted["stringData"]["note_unencrypted"].startswith("ENC[")


def test_default_suffix_leaves_marked_keys_in_clear() -> None:
    encrypted = sops_vectors.encrypt(copy.deepcopy(SECRET), [IDENTITY.to_public()])
    assert encrypted["stringData"]["note_unencrypted"] == "visible"
    assert encrypted["kind"].startswith("ENC[")


def test_any_of_several_recipients_opens_the_data_key() -> None:
    encrypted = sops_vectors.encrypt(
        copy.deepcopy(SECRET), [OTHER.to_public(), IDENTITY.to_public()]
    )
    assert decrypting.decrypt_tree(encrypted, KEYS)["stringData"]["password"] == "hunter2"


@pytest.mark.parametrize("keys", [decrypting.Keys(), decrypting.Keys(age=(OTHER,))])
def test_without_the_right_key_fails(keys: decrypting.Keys) -> None:
    encrypted = sops_vectors.encrypt(copy.deepcopy(SECRET), [IDENTITY.to_public()])
    with pytest.raises(decrypting.DecryptionError) as caught:
        decrypting.decrypt_tree(encrypted, keys)
    assert str(caught.value) == "Error getting data key: 0 successful groups required, got 0"


def test_changed_cleartext_value_fails_the_mac() -> None:
    encrypted = sops_vectors.encrypt(
        copy.deepcopy(SECRET), [IDENTITY.to_public()], encrypted_regex="^stringData$"
    )
    encrypted["metadata"]["name"] = "renamed"
    with pytest.raises(decrypting.DecryptionError, match="Failed to verify data integrity"):
        decrypting.decrypt_tree(encrypted, KEYS)


def test_mac_only_encrypted_tolerates_cleartext_changes() -> None:
    encrypted = sops_vectors.encrypt(
        copy.deepcopy(SECRET),
        [IDENTITY.to_public()],
        encrypted_regex="^stringData$",
        mac_only_encrypted=True,
    )
    encrypted["metadata"]["name"] = "renamed"
    assert decrypting.decrypt_tree(encrypted, KEYS)["metadata"]["name"] == "renamed"


def test_moved_ciphertext_fails_authentication() -> None:
    encrypted = sops_vectors.encrypt(copy.deepcopy(SECRET), [IDENTITY.to_public()])
    data = encrypted["stringData"]
    data["password"], data["empty"] = data["list"][0], data["password"]
    with pytest.raises(decrypting.DecryptionError, match="message authentication failed"):
        decrypting.decrypt_tree(encrypted, KEYS)


def test_cleartext_where_ciphertext_belongs_fails() -> None:
    encrypted = sops_vectors.encrypt(copy.deepcopy(SECRET), [IDENTITY.to_public()])
    encrypted["stringData"]["password"] = "plain"
    with pytest.raises(decrypting.DecryptionError, match="does not match sops' data format"):
        decrypting.decrypt_tree(encrypted, KEYS)


def test_missing_mac_fails() -> None:
    encrypted = sops_vectors.encrypt(copy.deepcopy(SECRET), [IDENTITY.to_public()])
    del encrypted["sops"]["mac"]
    with pytest.raises(decrypting.DecryptionError, match="no MAC"):
        decrypting.decrypt_tree(encrypted, KEYS)


def test_keys_from_secret_reads_agekey_and_asc_entries_only() -> None:
    secret = sops_vectors.age_secret(IDENTITY, OTHER)
    secret["data"]["sops.vault-token"] = base64.b64encode(b"not an age key").decode()
    keys = decrypting.keys_from_secret(secret)
    assert [str(k) for k in keys.age] == [str(IDENTITY), str(OTHER)]


def test_keys_from_secret_refuses_garbage() -> None:
    secret = {"data": {"bad.agekey": base64.b64encode(b"AGE-SECRET-KEY-1NOPE").decode()}}
    with pytest.raises(decrypting.DecryptionError, match="failed to parse age identities"):
        decrypting.keys_from_secret(secret)


@pytest.mark.parametrize(
    ("value", "want"),
    [(1.0, "1"), (0.25, "0.25"), (1e21, "1000000000000000000000"), (1.5e-7, "0.00000015")],
)
def test_go_float_format(value: float, want: str) -> None:
    assert decrypting.go_float(value) == want


def test_decrypt_object_handles_whole_encrypted_objects() -> None:
    encrypted = sops_vectors.encrypt(
        copy.deepcopy(SECRET), [IDENTITY.to_public()], encrypted_regex="^stringData$"
    )
    assert decrypting.is_encrypted(encrypted)
    assert decrypting.decrypt_object(encrypted, KEYS) == SECRET


def test_decrypt_object_reports_which_object_failed() -> None:
    encrypted = sops_vectors.encrypt(
        copy.deepcopy(SECRET), [IDENTITY.to_public()], encrypted_regex="^stringData$"
    )
    with pytest.raises(decrypting.DecryptionError) as caught:
        decrypting.decrypt_object(encrypted, decrypting.Keys())
    assert str(caught.value) == (
        "failed to decrypt and format 'apps/db' Secret data: "
        "Error getting data key: 0 successful groups required, got 0"
    )


@pytest.mark.parametrize("value", ["disabled", "Disabled", "DISABLED"])
def test_decrypt_annotation_skips_objects(value: str) -> None:
    encrypted = sops_vectors.encrypt(
        copy.deepcopy(SECRET), [IDENTITY.to_public()], encrypted_regex="^stringData$"
    )
    encrypted["metadata"]["annotations"] = {decrypting.DECRYPT_ANNOTATION: value}
    assert decrypting.decryption_disabled(encrypted)
    assert decrypting.decrypt_object(encrypted, decrypting.Keys()) is None


def test_plain_objects_need_nothing() -> None:
    assert not decrypting.is_encrypted(SECRET)
    assert decrypting.decrypt_object(copy.deepcopy(SECRET), KEYS) is None
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    assert decrypting.decrypt_object(config, KEYS) is None


def _dotenv(tree: dict[str, Any]) -> bytes:
    """A SOPS dotenv file: values, then the flattened metadata."""
    encrypted = sops_vectors.encrypt(tree, [IDENTITY.to_public()])
    stanza = encrypted.pop("sops")
    lines = [f"{k}={v}" for k, v in encrypted.items()]
    for index, entry in enumerate(stanza.pop("age")):
        for key, value in entry.items():
            escaped = value.replace("\n", "\\n")
            lines.append(f"sops_age__list_{index}__map_{key}={escaped}")
    lines += [f"sops_{k}={v}" for k, v in stanza.items()]
    return ("\n".join(lines) + "\n").encode()


def test_secret_data_holding_sops_dotenv_is_decrypted() -> None:
    env = _dotenv({"USER": "admin", "PASS": "s3cr3t"})
    secret: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "gen"},
        "data": {
            "app.env": base64.b64encode(env).decode(),
            "plain": base64.b64encode(b"hello").decode(),
        },
    }
    out = decrypting.decrypt_object(secret, KEYS)
    assert out is not None
    assert base64.b64decode(out["data"]["app.env"]) == b"USER=admin\nPASS=s3cr3t\n"
    assert out["data"]["plain"] == secret["data"]["plain"]


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.yaml", "yaml"),
        ("a.yml", "yaml"),
        ("a.json", "json"),
        ("a.env", "dotenv"),
        ("a.bin", "binary"),
        ("a", "binary"),
    ],
)
def test_format_for_path(name: str, fmt: str) -> None:
    assert sopsfiles.format_for_path(name) == fmt
