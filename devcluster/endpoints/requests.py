"""Decoding of HTTP requests: resource paths, query options and bodies.

``parse_path`` maps ``/api/v1/...`` and ``/apis/<g>/<v>/...`` to a
``Target`` (resource, namespace, name, subresource). ``decode_body`` reads
JSON, YAML (``apply-patch+yaml`` bodies may be JSON — YAML is a superset) and
Kubernetes protobuf. Malformed input is a 400 BadRequest, an unknown media
type 415. Booleans in queries are lenient (``true``, ``True``, ``1``) because
kubernetes-asyncio sends ``watch=True``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import marshal
from collections.abc import Mapping
from typing import Any

import yaml

from devcluster.machinery import errors, objects
from devcluster.registry import scaling
from devcluster.schemas import resources
from devcluster.serializers import blockyaml, protobuf

JSON_TYPES = ("application/json", "*/*", "")
YAML_TYPES = ("application/yaml", "application/apply-patch+yaml")
PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)


class _Loader(yaml.CSafeLoader):
    """Safe YAML whose timestamps stay strings, as sigs.k8s.io/yaml converts them."""


def _timestamp_as_text(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


class _ResolvingLoader(yaml.CSafeLoader):
    """``CSafeLoader`` whose plain-scalar tag resolution is memoized.

    PyYAML's resolver runs in Python for every scalar; manifests repeat the
    same few hundred values, so a memo of the pure resolution is a cheap win.
    """

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0] and not self.yaml_path_resolvers:
            return blockyaml.plain_tag(value)
        return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]


def _convert(node: yaml.Node, duplicates: list[str]) -> Any:
    """A composed YAML node as plain data (the C composer plus this is ~2x ``yaml.load``)."""
    if isinstance(node, yaml.MappingNode):
        result = {}
        for key_node, value_node in node.value:
            key = _convert(key_node, duplicates)
            if key in result:
                duplicates.append(str(key))
            result[key] = _convert(value_node, duplicates)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, duplicates) for item in node.value]
    return blockyaml.SCALARS[node.tag](node.value)


def _parse_yaml_slowly(raw: bytes) -> tuple[Any, list[str]]:
    """Any YAML document: libyaml's composer, or PyYAML's full loader for what it cannot type."""
    duplicates: list[str] = []
    try:
        node = yaml.compose(raw, Loader=_ResolvingLoader)
        return (None if node is None else _convert(node, duplicates)), duplicates
    except (KeyError, ValueError, TypeError):
        # Merge keys, custom tags, sexagesimal ints…: the full loader knows them
        # (and words what it refuses, such as a mapping used as a key).
        return yaml.load(raw, Loader=_Loader), []


@functools.lru_cache(maxsize=128)
def _parse_yaml(raw: bytes) -> tuple[bytes | tuple[Any], tuple[str, ...]]:
    """The parsed body, frozen, and its duplicate keys.

    Memoized because GitOps loops re-apply identical bodies. The value is kept
    marshalled: every caller gets its own copy to mutate, and ``marshal.loads``
    is ~3x faster than cloning (version 2 writes no back-references, so no two
    places in a copy share an object). A value marshal refuses (too deep) is
    kept as is, in a 1-tuple, and cloned.
    """
    parsed = blockyaml.parse(raw)
    value, duplicates = _parse_yaml_slowly(raw) if parsed is None else parsed
    try:
        frozen: bytes | tuple[Any] = marshal.dumps(value, 2)
    except ValueError:
        frozen = (value,)
    return frozen, tuple(duplicates)


def _thaw(frozen: bytes | tuple[Any]) -> Any:
    if isinstance(frozen, bytes):
        return marshal.loads(frozen)
    return objects.clone(frozen[0])


# First bytes that no JSON text can start with in any encoding json.loads
# detects (letters other than true/false/null/NaN/Infinity): such YAML bodies
# skip the JSON attempt.
_NOT_JSON_PREFIXES = frozenset(
    bytes([letter]) for letter in b"abcdeghijklmopqrsuvwxyzABCDEFGHJKLMOPQRSTUVWXYZ"
)


def _json(raw: bytes, duplicates: list[str]) -> Any:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        result = dict(items)
        if len(result) != len(items):
            seen: set[str] = set()
            for key, _ in items:
                if key in seen:
                    duplicates.append(key)
                seen.add(key)
        return result

    return json.loads(raw, object_pairs_hook=pairs)


@dataclasses.dataclass(frozen=True)
class Target:
    resource: resources.Resource
    namespace: str | None
    name: str | None
    subresource: str


def parse_path(registry: resources.Registry, path: str) -> Target | None:
    """The resource a REST path names, ``None`` when it names none."""
    segments = [s for s in path.split("/") if s]
    if len(segments) >= 2 and segments[0] == "api":
        group, version, rest = "", segments[1], segments[2:]
    elif len(segments) >= 3 and segments[0] == "apis":
        group, version, rest = segments[1], segments[2], segments[3:]
    else:
        return None
    if not rest:
        return None
    namespace: str | None = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        candidate = registry.lookup(group, version, rest[2])
        if candidate is not None and candidate.namespaced:
            namespace, rest = rest[1], rest[2:]
    res = registry.lookup(group, version, rest[0])
    if res is None or len(rest) > 3:
        return None
    if res.namespaced is False and namespace is not None:
        return None
    name = rest[1] if len(rest) >= 2 else None
    subresource = rest[2] if len(rest) == 3 else ""
    if subresource and not (
        (subresource == "status" and res.has_status)
        or (subresource == "finalize" and res.key == "/namespaces")
        or (subresource == "scale" and res.key in scaling.SCALABLE)
        or (subresource == "token" and res.key == "/serviceaccounts")
    ):
        return None
    return Target(res, namespace, name, subresource)


def flag(query: Mapping[str, str], name: str) -> bool:
    return query.get(name, "").lower() in ("true", "1")


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def decode_body(raw: bytes, content_type: str | None, duplicates: list[str] | None = None) -> Any:
    """The decoded body; keys that appear twice in one object are added to ``duplicates``."""
    found: list[str] = [] if duplicates is None else duplicates
    kind = media_type(content_type)
    if protobuf.is_protobuf(content_type):
        try:
            return protobuf.decode(raw)
        except protobuf.UnsupportedKindError as error:
            raise errors.unsupported_media(str(content_type)) from error
        except protobuf.ProtobufError as error:
            raise errors.bad_request(f"unable to decode protobuf body: {error}") from error
    if kind in YAML_TYPES:
        if raw[:1] not in _NOT_JSON_PREFIXES:
            try:
                return _json(raw, found)
            except (ValueError, RecursionError):
                pass
        try:
            frozen, repeated = _parse_yaml(raw)
            found.extend(repeated)
            return _thaw(frozen)
        except (yaml.YAMLError, ValueError, RecursionError) as error:
            # ValueError: a scalar the YAML 1.1 resolver types but cannot convert (``0b_``).
            # RecursionError: nesting deeper than Python's stack, or an alias
            # inside its own anchor (``a: &a [*a]``), which Kubernetes refuses too.
            raise errors.bad_request(f"error decoding YAML: {error}") from error
    if kind in JSON_TYPES or kind in PATCH_TYPES:
        try:
            return _json(raw, found)
        except (ValueError, UnicodeDecodeError, RecursionError) as error:
            raise errors.bad_request(
                f"couldn't get version/kind; json parse error: {error}"
            ) from error
    raise errors.unsupported_media(str(content_type))
