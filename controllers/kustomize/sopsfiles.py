"""SOPS-encrypted files (YAML, JSON, dotenv, binary) and the kustomize sources using them.

Contract:

- ``format_for_path`` picks the SOPS store from a file name as SOPS does
  (``.yaml``/``.yml``, ``.json``, ``.env``, anything else binary).
- ``decrypt_file`` turns an encrypted file into its plaintext in the same
  format; the tree decryption itself (keys, MAC) is passed in as ``decrypt``
  so this module stays about file formats. A file without the format's SOPS
  marker is returned unchanged.
- ``decrypt_sources`` is Flux's pre-build step: every ``envs``/``env`` and
  ``files`` source of a ``secretGenerator`` in the kustomization at a
  directory — and in the local kustomizations it reaches through
  ``resources`` and ``components`` — that is SOPS-encrypted is decrypted in
  place, so kustomize generates Secrets from plaintext. Paths never leave
  ``root``.
"""

from __future__ import annotations

import itertools
import json
import os
import pathlib
from collections.abc import Callable
from typing import Any, Literal

from controllers.kustomize import kustomizefiles
from shared.kube import manifests

Format = Literal["yaml", "json", "dotenv", "binary"]
YAML: Format = "yaml"
JSON: Format = "json"
DOTENV: Format = "dotenv"
BINARY: Format = "binary"

DOTENV_MARKER = b"sops_mac=ENC["
_MARKERS: dict[Format, bytes] = {
    YAML: b"mac: ENC[",
    JSON: b'"mac": "ENC[',
    DOTENV: DOTENV_MARKER,
    BINARY: b'"mac": "ENC[',
}
_METADATA_PREFIX = "sops_"

Decrypt = Callable[[dict[str, Any]], dict[str, Any]]


class SourceError(Exception):
    """A kustomize source file could not be read, parsed or decrypted."""


def format_for_path(path: str) -> Format:
    suffix = pathlib.PurePath(path).suffix
    if suffix in (".yaml", ".yml"):
        return YAML
    if suffix == ".json":
        return JSON
    if suffix == ".env":
        return DOTENV
    return BINARY


def is_encrypted(content: bytes, fmt: Format) -> bool:
    return _MARKERS[fmt] in content


def decrypt_file(content: bytes, fmt: Format, *, decrypt: Decrypt) -> bytes:
    """The plaintext of an encrypted file, written in its own format."""
    if not is_encrypted(content, fmt):
        return content
    text = content.decode()
    if fmt == YAML:
        [tree] = manifests.load_all(text) or [{}]
        return manifests.dump(decrypt(tree)).encode()
    if fmt == JSON:
        return (json.dumps(decrypt(json.loads(text)), indent=2) + "\n").encode()
    if fmt == DOTENV:
        return _emit_dotenv(decrypt(_parse_dotenv(text)))
    plain = decrypt(json.loads(text)).get("data", "")
    return plain if isinstance(plain, bytes) else str(plain).encode(errors="surrogateescape")


def _parse_dotenv(text: str) -> dict[str, Any]:
    """Dotenv lines as a tree: values in order, ``sops_…`` keys unflattened into ``sops``."""
    body: dict[str, Any] = {}
    metadata: dict[str, Any] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue  # comments are not part of the MAC
        key, sep, value = line.partition("=")
        if not sep:
            raise SourceError(f"invalid dotenv input line: {line}")
        value = value.replace("\\n", "\n")
        if key.startswith(_METADATA_PREFIX):
            _unflatten(metadata, key[len(_METADATA_PREFIX) :], value)
        else:
            body[key] = value
    body["sops"] = metadata
    return body


def _unflatten(target: dict[str, Any], flat: str, value: str) -> None:
    """Set an ``age__list_0__map_enc`` style key (SOPS's flattening) in a nested tree."""
    first, *rest = flat.split("__")
    path: list[str | int] = [first]
    for part in rest:
        if part.startswith("list_") and part[len("list_") :].isdigit():
            path.append(int(part[len("list_") :]))
        else:
            path.append(part.removeprefix("map_"))
    node: Any = target
    for key, following in itertools.pairwise(path):
        empty: Any = [] if isinstance(following, int) else {}
        node = _child(node, key, empty)
    _child(node, path[-1], value, replace=True)


def _child(node: Any, key: str | int, default: Any, *, replace: bool = False) -> Any:
    if isinstance(node, list) and isinstance(key, int):
        while len(node) <= key:
            node.append(None)
        if replace or node[key] is None:
            node[key] = default
        return node[key]
    if not isinstance(node, dict):
        raise SourceError("invalid sops metadata in dotenv file")
    if replace or str(key) not in node:
        node[str(key)] = default
    return node[str(key)]


def _escape_newlines(value: Any) -> str:
    return str(value).replace("\n", "\\n")


def _emit_dotenv(tree: dict[str, Any]) -> bytes:
    lines = [f"{key}={_escape_newlines(value)}" for key, value in tree.items()]
    return ("\n".join(lines) + "\n").encode() if lines else b""


def decrypt_sources(directory: pathlib.Path, *, root: pathlib.Path, decrypt: Decrypt) -> None:
    """Decrypt in place the encrypted secretGenerator sources reachable from ``directory``."""
    root = root.resolve()
    seen: set[pathlib.Path] = set()
    pending = [directory.resolve()]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        kustomization = _read_kustomization(current)
        if kustomization is None:
            continue
        for generator in kustomization.get("secretGenerator") or []:
            sources = [*(generator.get("envs") or [])]
            if generator.get("env"):
                sources.append(generator["env"])
            for source in sources:
                path = _inside(current / str(source), root)
                fmt = format_for_path(str(source))
                _decrypt_in_place(path, DOTENV if fmt == BINARY else fmt, decrypt)
            for source in generator.get("files") or []:
                file = str(source).partition("=")[2] or str(source)
                path = _inside(current / file, root)
                _decrypt_in_place(path, format_for_path(file), decrypt)
        for entry in [
            *(kustomization.get("resources") or []),
            *(kustomization.get("components") or []),
        ]:
            candidate = current / str(entry)
            if candidate.is_dir():
                pending.append(_inside(candidate, root))


def resource_files(directory: pathlib.Path, *, root: pathlib.Path) -> list[pathlib.Path]:
    """The manifest files the kustomization at ``directory`` reaches through ``resources``."""
    root = root.resolve()
    files: list[pathlib.Path] = []
    seen: set[pathlib.Path] = set()
    pending = [directory.resolve()]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        kustomization = _read_kustomization(current)
        if kustomization is None:
            continue
        entries = [
            *(kustomization.get("resources") or []),
            *(kustomization.get("components") or []),
        ]
        for entry in entries:
            candidate = (current / str(entry)).resolve()
            if candidate != root and root not in candidate.parents:
                continue  # kustomize's load restrictor reports it
            if candidate.is_dir():
                pending.append(candidate)
            elif candidate.is_file() and candidate not in files:
                files.append(candidate)
    return files


def _read_kustomization(directory: pathlib.Path) -> dict[str, Any] | None:
    path = kustomizefiles.kustomization_file(directory)
    if path is None:
        return None
    try:
        documents = manifests.load_all(path.read_text())
    except (OSError, UnicodeDecodeError, manifests.ManifestError) as err:
        raise SourceError(f"failed to read {path.name} in {directory}: {err}") from err
    return documents[0] if documents else {}


def _inside(path: pathlib.Path, root: pathlib.Path) -> pathlib.Path:
    resolved = path.resolve()
    if resolved != root and root not in resolved.parents:
        raise SourceError(f"path '{path}' is not in or below '{root}'")
    return resolved


def _decrypt_in_place(path: pathlib.Path, fmt: Format, decrypt: Decrypt) -> None:
    if not path.is_file():
        return  # kustomize reports missing sources itself
    content = path.read_bytes()
    if not is_encrypted(content, fmt):
        return
    plain = decrypt_file(content, fmt, decrypt=decrypt)
    tmp = path.with_name(path.name + ".decrypting")
    tmp.write_bytes(plain)
    os.replace(tmp, path)
