"""Helm repository indexes: parse, normalise, choose a version, cache.

Contract:

- ``parse(body)`` (synchronous; call it in a thread) reads an ``index.yaml``
  (YAML or JSON) as Helm's ``LoadIndex`` does: empty → "no API version"
  / "empty index.yaml file" errors, entries without a name or a valid version
  dropped, each chart's versions sorted newest first. It returns an ``Index``.
  The YAML parser is libyaml (PyYAML's ``CSafeLoader``): measured on a
  20,000-entry index (bench/helm_index_bench.py) it is about ten times faster
  than ruamel's pure-Python safe loader. Timestamps stay strings, as in JSON.
- ``Index.to_json()`` is the stored artifact (Flux stores the normalised index
  as JSON, so consumers read it with a JSON parser); ``load_json`` reads it.
- ``Index.get(name, version)`` is Flux's ``GetChartVersion``: an exact version
  string first, then the newest version the Masterminds range allows
  (``*`` and empty: newest stable), ties broken by ``created``.
- ``Cache``: parsed indexes by artifact path, bounded in count, each expiring
  ``ttl`` seconds after its last use (``--helm-cache-*``).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import OrderedDict
from typing import Any

import semver
import yaml

from controllers.source.git import constraints
from controllers.source.helm import errors


class _Loader(yaml.CSafeLoader):
    """libyaml's safe loader, leaving timestamps as strings (as Helm's JSON does)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
}


@dataclasses.dataclass
class Index:
    """A normalised repository index: ``entries`` maps a chart name to its versions."""

    api_version: str
    entries: dict[str, list[dict[str, Any]]]
    generated: str | None = None

    def to_json(self) -> bytes:
        document: dict[str, Any] = {"apiVersion": self.api_version, "entries": self.entries}
        if self.generated is not None:
            document["generated"] = self.generated
        return json.dumps(document, indent=2, sort_keys=True).encode()

    def get(self, name: str, version: str) -> dict[str, Any]:
        """The chart version to use; ``ChartReferenceError`` (Flux's wording) when none fits."""
        versions = self.entries.get(name)
        if versions is None:
            raise ChartReferenceError("no chart name found")
        if not versions:
            raise ChartReferenceError("no chart version found")
        if version:
            for entry in versions:
                if entry.get("version") == version:
                    return entry
        try:
            allowed = constraints.parse(version if version not in ("", "*") else "*")
        except ValueError as invalid:
            raise ChartReferenceError(f"improper constraint: {version}") from invalid
        best: tuple[semver.Version, str, dict[str, Any]] | None = None
        for entry in versions:
            parsed = constraints.parse_version(str(entry.get("version", "")))
            if parsed is None or not allowed.allows(parsed):
                continue
            created = str(entry.get("created") or "")
            if best is None or (parsed, created) > (best[0], best[1]):
                best = (parsed, created, entry)
        if best is None:
            raise ChartReferenceError(f"no '{name}' chart with version matching '{version}' found")
        return best[2]


class ChartReferenceError(errors.HelmError):
    """The index has no chart or version fitting the reference."""


def _load(body: bytes) -> Any:
    stripped = body.lstrip()
    if stripped.startswith(b"{"):
        try:
            return json.loads(body)
        except ValueError:
            pass  # NB: YAML flow style also starts with '{'; let the YAML parser judge.
    return yaml.load(body, Loader=_Loader)


def _sort_key(entry: dict[str, Any]) -> tuple[semver.Version, str]:
    parsed = constraints.parse_version(str(entry.get("version", "")))
    return (parsed or semver.Version(0), str(entry.get("created") or ""))


def parse(body: bytes) -> Index:
    """Read and normalise an index; ``errors.IndexationError`` when Helm would refuse it."""
    if not body.strip():
        raise errors.IndexationError(
            "failed to load Helm repository from index YAML: empty index.yaml file"
        )
    try:
        document = _load(body)
    except yaml.YAMLError as invalid:
        raise errors.IndexationError(
            f"failed to load Helm repository from index YAML: {invalid}"
        ) from invalid
    if not isinstance(document, dict):
        raise errors.IndexationError(
            "failed to load Helm repository from index YAML: the index is not a mapping"
        )
    api_version = document.get("apiVersion")
    if not api_version:
        raise errors.IndexationError(
            "failed to load Helm repository from index YAML: no API version specified"
        )
    entries: dict[str, list[dict[str, Any]]] = {}
    for name, versions in (document.get("entries") or {}).items():
        kept = [
            v
            for v in versions or ()
            if isinstance(v, dict)
            and v.get("name")
            and constraints.parse_version(str(v.get("version", ""))) is not None
        ]
        for entry in kept:
            entry.setdefault("apiVersion", "v1")
        kept.sort(key=_sort_key, reverse=True)
        entries[str(name)] = kept
    generated = document.get("generated")
    return Index(
        api_version=str(api_version),
        entries=entries,
        generated=str(generated) if generated is not None else None,
    )


def load_json(body: bytes) -> Index:
    """Read an index stored by ``Index.to_json`` (already normalised)."""
    document = json.loads(body)
    return Index(
        api_version=document["apiVersion"],
        entries=document.get("entries") or {},
        generated=document.get("generated"),
    )


class Cache:
    """Parsed indexes by key, at most ``max_size`` of them, each kept ``ttl`` seconds after use.

    ``max_size`` 0 disables the cache (Flux's default). ``purge`` drops the
    expired entries (the controller calls it every ``--helm-cache-purge-interval``).
    """

    def __init__(self, *, max_size: int, ttl: float, clock: Any = time.monotonic) -> None:
        self.max_size = max_size
        self.ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, Index]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Index | None:
        found = self._entries.get(key)
        if found is None or found[0] <= self._clock():
            self._entries.pop(key, None)
            self.misses += 1
            return None
        self._entries[key] = (self._clock() + self.ttl, found[1])
        self._entries.move_to_end(key)
        self.hits += 1
        return found[1]

    def put(self, key: str, index: Index) -> None:
        if self.max_size <= 0:
            return
        self._entries[key] = (self._clock() + self.ttl, index)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_size:
            self._entries.popitem(last=False)

    def purge(self) -> int:
        """Drop expired entries; return how many."""
        now = self._clock()
        expired = [key for key, (deadline, _) in self._entries.items() if deadline <= now]
        for key in expired:
            del self._entries[key]
        return len(expired)

    def __len__(self) -> int:
        return len(self._entries)
