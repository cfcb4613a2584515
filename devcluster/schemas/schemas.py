"""Built-in type schemas, read from the PyPI package ``kubernetes-validate``.

The package ships the Kubernetes OpenAPI definitions converted to JSON
Schema; the ``v1.37.0-local`` ``_definitions.json`` holds every type under
``$defs`` with the Kubernetes extensions intact (``x-kubernetes-list-type``,
``x-kubernetes-patch-merge-key``, ``x-kubernetes-group-version-kind`` …).
Nothing here is hand-written: the devcluster's OpenAPI documents, type
information for patches and apply, and field validation all come from it.
"""

from __future__ import annotations

import functools
import json
import pathlib
from collections.abc import Callable
from typing import Any

import kubernetes_validate

VERSION = "v1.37.0-local"


@functools.cache
def definitions() -> dict[str, Any]:
    """All ``$defs`` of the shipped schema, keyed by definition name (read once)."""
    root = pathlib.Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / VERSION
    with (root / "_definitions.json").open() as handle:
        defs: dict[str, Any] = json.load(handle)["$defs"]
    return defs


@functools.cache
def gvk_index() -> dict[tuple[str, str, str], str]:
    """``(group, version, kind)`` → definition name, from ``x-kubernetes-group-version-kind``."""
    index: dict[tuple[str, str, str], str] = {}
    for name, schema in definitions().items():
        for gvk in schema.get("x-kubernetes-group-version-kind", ()):
            index[(gvk["group"], gvk["version"], gvk["kind"])] = name
    return index


def definition_for(group: str, version: str, kind: str) -> str | None:
    return gvk_index().get((group, version, kind))


def ref_name(ref: str) -> str:
    """``#/$defs/io.k8s.api.core.v1.Pod`` → ``io.k8s.api.core.v1.Pod``."""
    return ref.rsplit("/", 1)[-1]


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    """Follow a ``$ref`` (possibly wrapped in ``allOf``) to its definition."""
    while True:
        if "$ref" in node:
            node = definitions()[ref_name(node["$ref"])]
            continue
        all_of = node.get("allOf")
        if isinstance(all_of, list) and len(all_of) == 1 and "$ref" in all_of[0]:
            node = definitions()[ref_name(all_of[0]["$ref"])]
            continue
        return node


def types_of(node: dict[str, Any]) -> set[str]:
    """The JSON types a node allows, ``null`` removed (the JSON-Schema form allows it)."""
    raw = node.get("type")
    if raw is None:
        return set()
    found = {raw} if isinstance(raw, str) else set(raw)
    found.discard("null")
    return found


def closure(roots: list[str], convert: Callable[[Any, set[str]], Any]) -> dict[str, Any]:
    """``convert`` of the definitions ``roots`` and of everything they reference.

    ``convert(node, refs)`` returns the published form of one definition and
    adds the names of the definitions it references to ``refs``.
    """
    defs = definitions()
    done: dict[str, Any] = {}
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name in done or name not in defs:
            continue
        refs: set[str] = set()
        done[name] = convert(defs[name], refs)
        pending.extend(refs - done.keys())
    return done
