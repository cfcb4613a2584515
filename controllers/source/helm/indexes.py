"""Helm repository indexes: read lazily, chart by chart; choose a version; cache.

Contract:

- ``parse(body)`` (synchronous; call it in a thread) checks an
  ``index.yaml`` (YAML or JSON) as far as Helm's ``LoadIndex`` refuses one
  ("empty index.yaml file", "no API version specified", a YAML error) and
  returns an ``Index``. It does *not* build every entry: for the block YAML
  that ``helm repo index`` and chart servers write, one scan (regular
  expressions, C speed) records where each chart's block lies, and a chart's
  versions are parsed only when asked for — a few kilobytes instead of the
  whole index. JSON indexes are read whole (``json`` is fast); anything else
  (flow style, anchors at the top level …) falls back to a full parse.
- ``Index.versions(name)`` is one chart's versions normalised as Helm does:
  entries without a name or a valid version dropped, ``apiVersion`` defaulted
  to v1, newest first. Timestamps stay strings, as in Helm's JSON.
- ``Index.get(name, version)`` is Flux's ``GetChartVersion``: an exact version
  string first, then the newest version the Masterminds range allows
  (``*`` and empty: newest stable), ties broken by ``created``.
- ``Cache``: indexes by artifact path, bounded in count, each expiring
  ``ttl`` seconds after its last use (``--helm-cache-*``).

Why lazy: parsing a 20,000-entry (~10 MB) index into Python objects with
libyaml (PyYAML's ``CSafeLoader``, itself about eight times faster than
ruamel's pure-Python loader) takes seconds of CPU and hundreds of MiB;
``bench/helm_index_bench.py`` has the figures.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections import OrderedDict
from typing import Any

import semver
import yaml

from controllers.source.helm import errors
from shared.api import semverranges as constraints

_PREFIX = "failed to load Helm repository from index YAML: "
_ENTRIES = re.compile(rb"^entries:[ \t]*(?:#[^\n]*)?\n", re.M)
_EMPTY_ENTRIES = re.compile(rb"^entries:[ \t]*(?:\{\}|null|~)?[ \t]*(?:#[^\n]*)?$", re.M)
_API_VERSION = re.compile(rb"^apiVersion:[ \t]*([^\n#]*?)[ \t]*(?:#[^\n]*)?$", re.M)
_COLUMN_ZERO = re.compile(rb"^[^\s#]", re.M)
_FIRST_LINE = re.compile(rb"^( *)[^\s#]", re.M)
_KEY = re.compile(rb"^(?P<key>\"[^\"\n]*\"|'[^'\n]*'|[^\s#\-\"'][^:\n]*):(?: |$)")


class _Loader(yaml.CSafeLoader):
    """libyaml's safe loader, leaving timestamps as strings (as Helm's JSON does)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
}


class ChartReferenceError(errors.HelmError):
    """The index has no chart or version fitting the reference."""


def _yaml(body: bytes) -> Any:
    try:
        return yaml.load(body, Loader=_Loader)
    except yaml.YAMLError as invalid:
        raise errors.IndexationError(f"{_PREFIX}{invalid}") from invalid


@dataclasses.dataclass(eq=False)
class Index:
    """A repository index: the body, and either chart block offsets or every entry."""

    api_version: str
    body: bytes = b""
    blocks: dict[str, tuple[int, int]] | None = None
    """Chart name → (start, end) of its block in ``body``; None when ``entries`` is set."""
    entries: dict[str, Any] | None = None
    _normalised: dict[str, list[dict[str, Any]]] = dataclasses.field(default_factory=dict)

    def names(self) -> list[str]:
        return list(self.blocks if self.blocks is not None else self.entries or {})

    def versions(self, name: str) -> list[dict[str, Any]] | None:
        """The chart's versions, normalised and newest first; None when there is no such chart."""
        if name in self._normalised:
            return self._normalised[name]
        if self.blocks is not None:
            span = self.blocks.get(name)
            if span is None:
                return None
            document = _yaml(b"entries:\n" + self.body[span[0] : span[1]])
            raw = next(iter(((document or {}).get("entries") or {}).values()), None)
        else:
            if name not in (self.entries or {}):
                return None
            raw = (self.entries or {})[name]
        kept = [
            v
            for v in raw or ()
            if isinstance(v, dict)
            and v.get("name")
            and constraints.parse_version(str(v.get("version", ""))) is not None
        ]
        for entry in kept:
            entry.setdefault("apiVersion", "v1")
        kept.sort(key=_sort_key, reverse=True)
        self._normalised[name] = kept
        return kept

    def get(self, name: str, version: str) -> dict[str, Any]:
        """The chart version to use; ``ChartReferenceError`` (Flux's wording) when none fits."""
        versions = self.versions(name)
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


def _sort_key(entry: dict[str, Any]) -> tuple[semver.Version, str]:
    parsed = constraints.parse_version(str(entry.get("version", "")))
    return (parsed or semver.Version(0), str(entry.get("created") or ""))


def _whole(document: Any) -> Index:
    if not isinstance(document, dict):
        raise errors.IndexationError(f"{_PREFIX}the index is not a mapping")
    api_version = document.get("apiVersion")
    if not api_version:
        raise errors.IndexationError(f"{_PREFIX}no API version specified")
    entries = document.get("entries") or {}
    if not isinstance(entries, dict):
        raise errors.IndexationError(f"{_PREFIX}entries is not a mapping")
    return Index(api_version=str(api_version), entries={str(k): v for k, v in entries.items()})


def _key_name(line: bytes) -> str | None:
    match = _KEY.match(line)
    if match is None:
        return None
    key = match.group("key").rstrip()
    if key[:1] in (b'"', b"'"):
        loaded = yaml.load(key, Loader=_Loader)
        return str(loaded)
    return key.decode("utf-8", "strict")


def _scan(body: bytes) -> Index | None:
    """Chart block offsets of a block-style index; None when the layout is not the plain one."""
    if b"\t" in body or b"\r" in body or body.startswith(b"%") or b"\n---" in body[1:]:
        return None
    version = _API_VERSION.search(body)
    found = _ENTRIES.search(body)
    if found is None:
        if _EMPTY_ENTRIES.search(body) is None:
            return None
        start = end = len(body)
    else:
        start = found.end()
        following = _COLUMN_ZERO.search(body, start)
        end = following.start() if following else len(body)
        if following is not None and body[end : end + 1] == b"-":
            return None
    if version is not None and start <= version.start() < end:
        return None
    blocks: dict[str, tuple[int, int]] = {}
    first = _FIRST_LINE.search(body, start, end)
    if first is not None:
        indent = len(first.group(1))
        if indent == 0:
            return None
        shallower = re.compile(rb"^ {0,%d}[^ \n#]" % (indent - 1), re.M)
        if shallower.search(body, start, end):
            return None
        keys = re.compile(rb"^ {%d}(?=[^ \-#\n])" % indent, re.M)
        starts = [m.start() for m in keys.finditer(body, start, end)]
        for position, (begin, stop) in enumerate(zip(starts, [*starts[1:], end], strict=True)):
            line_end = body.find(b"\n", begin, stop)
            name = _key_name(body[begin + indent : line_end if line_end >= 0 else stop])
            if name is None or name in blocks or (position == 0 and begin != first.start()):
                return None
            blocks[name] = (begin, stop)
    if version is None:
        raise errors.IndexationError(f"{_PREFIX}no API version specified")
    value = _yaml(version.group(1)) if version.group(1) else None
    if not value:
        raise errors.IndexationError(f"{_PREFIX}no API version specified")
    # NB: the top-level keys outside the entries are small; parse them to catch
    # a broken document early, as Helm's loader would.
    _yaml(body[: start - (found.end() - found.start()) if found else 0] + body[end:])
    return Index(api_version=str(value), body=body, blocks=blocks)


def parse(body: bytes) -> Index:
    """Check an index and prepare it for lookups (see the module docstring)."""
    if not body.strip():
        raise errors.IndexationError(f"{_PREFIX}empty index.yaml file")
    if body.lstrip().startswith(b"{"):
        try:
            return _whole(json.loads(body))
        except ValueError:
            pass  # NB: YAML flow style also starts with '{'; let the YAML parser judge.
    scanned = _scan(body)
    if scanned is not None:
        return scanned
    return _whole(_yaml(body))


class Cache:
    """Indexes by key, at most ``max_size`` of them, each kept ``ttl`` seconds after use.

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
