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
from collections.abc import Mapping
from typing import Any

import yaml

from headwater.devcluster import errors, objects, protobuf, resources, scaling

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


_SCALARS: dict[str, Any] = {
    "tag:yaml.org,2002:str": str,
    "tag:yaml.org,2002:int": lambda text: int(text.replace("_", ""), 0),
    "tag:yaml.org,2002:float": float,
    "tag:yaml.org,2002:bool": lambda text: text.lower() in ("true", "yes", "on"),
    "tag:yaml.org,2002:null": lambda text: None,
    "tag:yaml.org,2002:timestamp": str,
}


def _convert(node: yaml.Node) -> Any:
    """A composed YAML node as plain data (the C composer plus this is ~2x ``yaml.load``)."""
    if isinstance(node, yaml.MappingNode):
        return {_convert(key): _convert(value) for key, value in node.value}
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item) for item in node.value]
    return _SCALARS[node.tag](node.value)


@functools.lru_cache(maxsize=128)
def _parse_yaml(raw: bytes) -> Any:
    """Parse YAML; memoized because GitOps loops re-apply identical bodies."""
    try:
        node = yaml.compose(raw, Loader=yaml.CSafeLoader)
        return None if node is None else _convert(node)
    except (KeyError, ValueError):
        # Merge keys, custom tags, sexagesimal ints…: the full loader knows them.
        return yaml.load(raw, Loader=_Loader)


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
    ):
        return None
    return Target(res, namespace, name, subresource)


def flag(query: Mapping[str, str], name: str) -> bool:
    return query.get(name, "").lower() in ("true", "1")


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def decode_body(raw: bytes, content_type: str | None) -> Any:
    kind = media_type(content_type)
    if protobuf.is_protobuf(content_type):
        try:
            return protobuf.decode(raw)
        except protobuf.UnsupportedKindError as error:
            raise errors.unsupported_media(str(content_type)) from error
        except protobuf.ProtobufError as error:
            raise errors.bad_request(f"unable to decode protobuf body: {error}") from error
    if kind in YAML_TYPES:
        try:
            return json.loads(raw)
        except ValueError:
            pass
        try:
            return objects.clone(_parse_yaml(raw))
        except yaml.YAMLError as error:
            raise errors.bad_request(f"error decoding YAML: {error}") from error
    if kind in JSON_TYPES or kind in PATCH_TYPES:
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as error:
            raise errors.bad_request(
                f"couldn't get version/kind; json parse error: {error}"
            ) from error
    raise errors.unsupported_media(str(content_type))
