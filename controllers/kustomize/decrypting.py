"""SOPS decryption with age keys: the SOPS tree format, its data key and its MAC.

Contract:

- ``keys_from_secret`` reads the keys of a decryption Secret: every data key
  ending in ``.agekey`` holds one or more ``AGE-SECRET-KEY-1…`` lines (``#``
  comments allowed); every one ending in ``.asc`` an armored OpenPGP private
  key (opened with gpg, see ``openpgp``). Cloud KMS credentials and Vault
  tokens are not supported and are ignored.
- ``decrypt_tree`` decrypts a SOPS document already parsed into dicts and
  lists (YAML, JSON, or a flattened dotenv file): the data key is the first
  ``sops.age`` stanza one of the age identities opens, else the first
  ``sops.pgp`` one an OpenPGP key opens (the single ``key_groups`` group
  likewise). A document whose data key is held only by cloud KMS (AWS KMS,
  GCP KMS, Azure Key Vault) or HashiCorp Vault is refused with a message
  naming those key types, which Headwater does not support; every leaf the
  SOPS metadata marks as encrypted
  (``unencrypted_suffix``, ``encrypted_suffix``, ``unencrypted_regex``,
  ``encrypted_regex``) is AES-256-GCM decrypted with its key path as
  additional data and restored to its type; then the MAC (SHA-512 over the
  leaves in document order, itself encrypted with ``lastmodified`` as
  additional data; with ``mac_only_encrypted`` only encrypted leaves, after
  a sha256("sops") seed) must match, or the document is refused. The result has no
  ``sops`` key. Errors carry SOPS's wording.
- ``decrypt_object`` is Flux's per-object step after the build: an object
  with a ``sops`` stanza is decrypted whole; a Secret whose data values are
  SOPS dotenv files (from a kustomize secretGenerator) has those values
  decrypted; ``kustomize.toolkit.fluxcd.io/decrypt: disabled`` skips both.
  None means "nothing to do".
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import decimal
import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pyrage
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import aead

from controllers.kustomize import openpgp, sopsfiles

DECRYPT_ANNOTATION = "kustomize.toolkit.fluxcd.io/decrypt"
AGE_KEY_SUFFIX = ".agekey"
PGP_KEY_SUFFIX = ".asc"
UNSUPPORTED_KEY_TYPES = {
    "kms": "AWS KMS",
    "gcp_kms": "GCP KMS",
    "azure_kv": "Azure Key Vault",
    "hc_vault": "HashiCorp Vault",
}
DEFAULT_UNENCRYPTED_SUFFIX = "_unencrypted"
MAC_ONLY_ENCRYPTED_SEED = hashlib.sha256(b"sops").digest()

_ENCRYPTED = re.compile(
    r"^ENC\[AES256_GCM,data:(?P<data>[^,]*),iv:(?P<iv>[^,]+),tag:(?P<tag>[^,]+),type:(?P<type>[a-z]+)\]\Z"
)
_GO_INT = re.compile(r"[+-]?[0-9]+")
_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


class DecryptionError(Exception):
    """A SOPS document could not be decrypted or failed its integrity check."""


@dataclasses.dataclass(frozen=True)
class Keys:
    """The private keys a Kustomization may decrypt with."""

    age: tuple[pyrage.x25519.Identity, ...] = ()
    pgp: tuple[bytes, ...] = ()
    """Armored OpenPGP private keys."""
    service_account: str = ""
    """The decryption service account: the identity for cloud KMS (not supported)."""


def keys_from_secret(secret: Mapping[str, Any]) -> Keys:
    """Age identities (``*.agekey``) and OpenPGP keys (``*.asc``) of a Secret read from the API."""
    identities: list[pyrage.x25519.Identity] = []
    pgp: list[bytes] = []
    for key, value in sorted((secret.get("data") or {}).items()):
        if not key.endswith((AGE_KEY_SUFFIX, PGP_KEY_SUFFIX)):
            continue
        try:
            text = base64.b64decode(str(value), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as err:
            raise DecryptionError(f"failed to decode key '{key}': not base64 text") from err
        if key.endswith(PGP_KEY_SUFFIX):
            if "-----BEGIN PGP PRIVATE KEY BLOCK-----" not in text:
                raise DecryptionError(f"failed to import '{key}': not an armored OpenPGP key")
            pgp.append(text.encode())
            continue
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                identities.append(pyrage.x25519.Identity.from_str(line))
            except pyrage.IdentityError as err:
                raise DecryptionError(f"failed to parse age identities from '{key}'") from err
    return Keys(age=tuple(identities), pgp=tuple(pgp))


def is_encrypted_secret(obj: Mapping[str, Any]) -> bool:
    """Flux's IsEncryptedSecret: a ``v1`` Secret with a ``sops`` stanza, decryption not disabled."""
    return (
        obj.get("kind") == "Secret"
        and obj.get("apiVersion") == "v1"
        and "sops" in obj
        and not decryption_disabled(obj)
    )


def is_encrypted(obj: Mapping[str, Any]) -> bool:
    """Whether an object carries SOPS metadata (a ``sops`` mapping with a ``mac``)."""
    stanza = obj.get("sops")
    return isinstance(stanza, Mapping) and "mac" in stanza


def decryption_disabled(obj: Mapping[str, Any]) -> bool:
    """Whether the object is annotated ``kustomize.toolkit.fluxcd.io/decrypt: disabled``."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(DECRYPT_ANNOTATION, "")).lower() == "disabled"


def decrypt_object(
    obj: dict[str, Any], keys: Keys, *, verify_mac: bool = True
) -> dict[str, Any] | None:
    """Flux's DecryptResource: the decrypted object, or None when nothing was encrypted.

    NB: pass ``verify_mac=False`` for objects kustomize has built: it sorts
    keys and transformers add fields, so the document-order MAC no longer
    holds (Flux skips the check for the same reason). Each value is still
    authenticated by AES-GCM under its key path; the builder checks the MAC
    on the files as committed instead.
    """
    if decryption_disabled(obj):
        return None
    metadata = obj.get("metadata") or {}
    where = f"'{metadata.get('namespace', '')}/{metadata.get('name', '')}' {obj.get('kind', '')}"
    if is_encrypted(obj):
        try:
            return decrypt_tree(obj, keys, verify_mac=verify_mac)
        except DecryptionError as err:
            raise DecryptionError(f"failed to decrypt and format {where} data: {err}") from err
    if obj.get("kind") != "Secret" or not isinstance(obj.get("data"), Mapping):
        return None
    changed = False
    data = dict(obj["data"])
    for key, value in data.items():
        try:
            content = base64.b64decode(str(value), validate=True)
        except binascii.Error:
            continue  # not base64: not ours to judge, the API server will be
        if sopsfiles.DOTENV_MARKER not in content:
            continue
        try:
            plain = sopsfiles.decrypt_file(content, sopsfiles.DOTENV, decrypt=_tree_decrypter(keys))
        except DecryptionError as err:
            raise DecryptionError(f"failed to decrypt and format {where} data: {err}") from err
        data[key] = base64.b64encode(plain).decode()
        changed = True
    return {**obj, "data": data} if changed else None


def _tree_decrypter(keys: Keys) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def decrypt(tree: dict[str, Any]) -> dict[str, Any]:
        return decrypt_tree(tree, keys)

    return decrypt


@dataclasses.dataclass(frozen=True)
class _Rules:
    unencrypted_suffix: str
    encrypted_suffix: str
    unencrypted_regex: re.Pattern[str] | None
    encrypted_regex: re.Pattern[str] | None
    by_comment: bool
    mac_only_encrypted: bool

    @classmethod
    def of(cls, stanza: Mapping[str, Any]) -> _Rules:
        def regex(key: str) -> re.Pattern[str] | None:
            value = stanza.get(key)
            return re.compile(str(value)) if value else None

        unencrypted_suffix = str(stanza.get("unencrypted_suffix") or "")
        encrypted_suffix = str(stanza.get("encrypted_suffix") or "")
        by_comment = bool(
            stanza.get("unencrypted_comment_regex") or stanza.get("encrypted_comment_regex")
        )
        rules = cls(
            unencrypted_suffix=unencrypted_suffix,
            encrypted_suffix=encrypted_suffix,
            unencrypted_regex=regex("unencrypted_regex"),
            encrypted_regex=regex("encrypted_regex"),
            by_comment=by_comment,
            mac_only_encrypted=str(stanza.get("mac_only_encrypted", "")) in _GO_TRUE,
        )
        if not (
            unencrypted_suffix
            or encrypted_suffix
            or rules.unencrypted_regex
            or rules.encrypted_regex
            or by_comment
        ):
            rules = dataclasses.replace(rules, unencrypted_suffix=DEFAULT_UNENCRYPTED_SUFFIX)
        return rules

    def encrypted(self, path: Sequence[str], value: Any) -> bool:
        if self.by_comment:
            # NB: comment-driven rules need the comments parsing dropped; the
            # ciphertext format itself is the only reliable mark left.
            return isinstance(value, str) and bool(_ENCRYPTED.match(value))
        if self.unencrypted_suffix:
            return not any(part.endswith(self.unencrypted_suffix) for part in path)
        if self.encrypted_suffix:
            return any(part.endswith(self.encrypted_suffix) for part in path)
        if self.unencrypted_regex is not None:
            return not any(self.unencrypted_regex.search(part) for part in path)
        if self.encrypted_regex is not None:
            return any(self.encrypted_regex.search(part) for part in path)
        return True


def decrypt_tree(tree: Mapping[str, Any], keys: Keys, *, verify_mac: bool = True) -> dict[str, Any]:
    """Decrypt a parsed SOPS document and verify its MAC; the result drops ``sops``."""
    stanza = tree.get("sops")
    if not isinstance(stanza, Mapping):
        raise DecryptionError("sops metadata not found")
    data_key = _data_key(stanza, keys)
    rules = _Rules.of(stanza)
    digest = hashlib.sha512()
    if rules.mac_only_encrypted:
        # SOPS seeds this digest with sha256("sops") so it never equals a full-tree MAC.
        digest.update(MAC_ONLY_ENCRYPTED_SEED)

    def visit(value: Any, path: list[str]) -> Any:
        encrypted = rules.encrypted(path, value)
        plain = _decrypt_value(value, data_key, path) if encrypted else value
        if encrypted or not rules.mac_only_encrypted:
            digest.update(_mac_bytes(plain))
        return plain

    body = {key: value for key, value in tree.items() if key != "sops"}
    out: dict[str, Any] = _walk(body, [], visit)
    if verify_mac:
        _verify_mac(stanza, data_key, digest.hexdigest().upper())
    return out


def _walk(value: Any, path: list[str], visit: Callable[[Any, list[str]], Any]) -> Any:
    if isinstance(value, Mapping):
        return {key: _walk(item, [*path, str(key)], visit) for key, item in value.items()}
    if isinstance(value, list):
        # SOPS does not put list indices in the key path.
        return [_walk(item, path, visit) for item in value]
    if value is None:
        return None
    return visit(value, path)


def _data_key(stanza: Mapping[str, Any], keys: Keys) -> bytes:
    groups = stanza.get("key_groups")
    if groups:
        if len(groups) > 1:
            raise DecryptionError("Shamir key groups are not supported")
        group: Mapping[str, Any] = groups[0] or {}
    else:
        group = stanza

    def messages(kind: str) -> list[str]:
        return [
            str(e["enc"]) for e in group.get(kind) or [] if isinstance(e, Mapping) and e.get("enc")
        ]

    for enc in messages("age") if keys.age else []:
        try:
            data_key: bytes = pyrage.decrypt(enc.encode(), list(keys.age))
        except pyrage.DecryptError:
            continue
        return data_key
    try:
        opened = openpgp.open_data_key(messages("pgp"), keys.pgp)
    except openpgp.OpenPGPError as err:
        raise DecryptionError(f"Error getting data key: {err}") from err
    if opened is not None:
        return opened
    if not messages("age") and not messages("pgp"):
        unsupported = [name for kind, name in UNSUPPORTED_KEY_TYPES.items() if group.get(kind)]
        if unsupported:
            used = (
                f"; service account '{keys.service_account}' is used for cloud KMS only"
                if keys.service_account
                else ""
            )
            raise DecryptionError(
                f"Error getting data key: encrypted only with {', '.join(unsupported)} keys, "
                f"which Headwater does not support (use age or OpenPGP keys){used}"
            )
    raise DecryptionError("Error getting data key: 0 successful groups required, got 0")


def _decrypt_value(value: Any, data_key: bytes, path: Sequence[str]) -> Any:
    if value == "":
        return ""  # SOPS leaves empty strings as they are
    match = _ENCRYPTED.match(value) if isinstance(value, str) else None
    if match is None:
        raise DecryptionError(
            f"Could not decrypt value: Input string {value} does not match sops' data format"
        )
    additional = ("".join(f"{part}:" for part in path)).encode()
    text = _open(match, data_key, additional)
    return _typed(text, match["type"])


def _open(match: re.Match[str], data_key: bytes, additional: bytes) -> bytes:
    try:
        data = base64.b64decode(match["data"])
        iv = base64.b64decode(match["iv"])
        tag = base64.b64decode(match["tag"])
        return aead.AESGCM(data_key).decrypt(iv, data + tag, additional)
    except (binascii.Error, InvalidTag, ValueError) as err:
        raise DecryptionError(
            "Could not decrypt value: cipher: message authentication failed"
        ) from err


def _typed(plain: bytes, kind: str) -> Any:
    text = plain.decode(errors="surrogateescape")
    match kind:
        case "str" | "comment":
            return text
        case "bytes":
            return plain
        case "int":
            if not _GO_INT.fullmatch(text):
                raise DecryptionError(f"Could not decrypt value: invalid int {text!r}")
            return int(text)
        case "float":
            # JSON numbers reach SOPS as float64; integral ones were integers.
            if _GO_INT.fullmatch(text):
                return int(text)
            try:
                return float(text)
            except ValueError as err:
                raise DecryptionError(f"Could not decrypt value: invalid float {text!r}") from err
        case "bool":
            if text in _GO_TRUE:
                return True
            if text in _GO_FALSE:
                return False
            raise DecryptionError(f"Could not decrypt value: invalid bool {text!r}")
    raise DecryptionError(f"Could not decrypt value: unknown type {kind}")


def _mac_bytes(value: Any) -> bytes:
    """The bytes SOPS hashes for a leaf (its ``ToBytes``)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, bool):
        return b"True" if value else b"False"
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, float):
        return go_float(value).encode()
    return str(value).encode(errors="surrogateescape")


def go_float(value: float) -> str:
    """Go's ``strconv.FormatFloat(v, 'f', -1, 64)``: shortest digits, never an exponent."""
    text = format(decimal.Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _verify_mac(stanza: Mapping[str, Any], data_key: bytes, computed: str) -> None:
    mac = stanza.get("mac")
    match = _ENCRYPTED.match(str(mac)) if mac else None
    if match is None:
        raise DecryptionError("Failed to verify data integrity: no MAC in sops metadata")
    stored = _open(match, data_key, str(stanza.get("lastmodified", "")).encode()).decode()
    if stored != computed:
        raise DecryptionError(
            f'Failed to verify data integrity. expected mac "{stored}", got "{computed}"'
        )
