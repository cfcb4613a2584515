"""Multi-document Kubernetes YAML, read and written the way Flux's Go libraries do (pure).

Contract:

- ``load_all`` parses YAML 1.1 with libyaml (fast for big builds) into plain
  dicts, skipping empty documents; ``kind: List`` items are *not* expanded
  (kustomize and Helm leave none). Timestamps and ``=`` stay strings and
  non-string keys become strings, as sigs.k8s.io/yaml's YAML→JSON does, so
  every object is JSON as the API server takes it. Anything but a mapping
  at the top of a document is a ``ManifestError``.
- ``split`` cuts a stream (kustomize's output) into the text of each
  document, so a document can be substituted on the very text written.
- ``dump`` / ``dump_all`` write block-style YAML keeping key order.

Used by kustomize-controller (builds, SOPS files, substitution) and by the
Helm engine (rendered charts, stored release manifests).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

_DROPPED_TAGS = frozenset({"tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value"})


class ManifestError(ValueError):
    """Text is not YAML, or a document is not a mapping."""


class _Loader(yaml.CSafeLoader):
    """libyaml's safe loader without the implicit types Go's YAML→JSON keeps as strings."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _DROPPED_TAGS]
    for first, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
}


def _stringify_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {_key(k): _stringify_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stringify_keys(item) for item in value]
    return value


def _key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return str(key)


def load_all(text: str) -> list[dict[str, Any]]:
    """Every non-empty document of ``text``, each a mapping."""
    try:
        documents = list(yaml.load_all(text, Loader=_Loader))
    except (yaml.YAMLError, ValueError) as err:
        # ValueError: a scalar the YAML 1.1 resolver types as a number that does
        # not convert (``0b_``, ``0x_``).
        raise ManifestError(f"error converting YAML to JSON: {err}") from err
    out: list[dict[str, Any]] = []
    for document in documents:
        if document is None:
            continue
        if not isinstance(document, dict):
            raise ManifestError(
                f"error unmarshaling JSON: a document is a {type(document).__name__}, not an object"
            )
        out.append(_stringify_keys(document))
    return out


def split(text: str) -> list[str]:
    """The text of each document of a multi-document stream, separators removed."""
    documents: list[str] = []
    current: list[str] = []
    for line in text.splitlines(keepends=True):
        if line.rstrip("\r\n") == "---" or line.startswith("--- "):
            documents.append("".join(current))
            rest = line[4:] if line.startswith("--- ") else ""
            current = [rest] if rest.strip() else []
            continue
        current.append(line)
    documents.append("".join(current))
    return [document for document in documents if document.strip()]


def dump(obj: Any) -> str:
    """Block-style YAML of one object, keys in their order."""
    return yaml.dump(
        obj,
        Dumper=yaml.CSafeDumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1 << 30,
    )


def dump_all(objects: Iterable[Any]) -> str:
    """A multi-document stream of ``objects`` separated by ``---``."""
    return "---\n".join(dump(obj) for obj in objects)
