"""What a kustomize build may load: only the artifact, and nothing remote unless allowed.

kustomize's load restrictor guards the files it loads but not the directories
it builds as bases, and ``--no-remote-bases`` must hold for every field that
takes a URL. So before kustomize runs, ``refusals`` walks the kustomization
graph from the build directory and checks every path it may load.

Contract:

- Every kustomization reached through ``resources``, ``bases``,
  ``components``, ``generators``, ``transformers`` and ``validators`` entries
  that are directories is walked (each once). Its kustomization file, and
  every path in ``resources``, ``bases``, ``components``, ``crds``,
  ``configurations``, ``generators``, ``transformers``, ``validators``,
  ``patches[].path``, ``patchesJson6902[].path``, ``patchesStrategicMerge``,
  ``replacements[].path``, ``openapi.path``, ``configMapGenerator`` and
  ``secretGenerator`` ``files``/``envs``/``env``, ``helmGlobals``
  ``chartHome``/``configHome``, ``helmCharts[]`` ``valuesFile``/
  ``additionalValuesFiles`` and the deprecated ``helmChartInflationGenerator``
  paths, must resolve — symlinks followed, absolute paths as written —
  inside ``root``. Plugin configurations (files named in, or inline YAML
  of, ``generators``/``transformers``/``validators``) are read and their
  path fields checked the same way, relative to the kustomization naming them.
- A remote reference (``scheme://…``, ``git::…``, ``gh:…``, scp-like
  ``user@host:path``, ``github.com/…`` and other host-name first segments
  that are not local paths, and any ``helmCharts[].repo``) is refused unless
  remote references are
  allowed; a ``file://`` URL is always refused (it names the controller's own
  filesystem). Entries starting with ``./`` or ``../`` are never remote.
- Inline patches and inline plugin configurations (YAML mappings written in
  place of a path) are not paths. Unreadable or malformed kustomization
  files are skipped: kustomize reports them itself.
- ``refusals`` returns one ``Refusal`` per offending entry, naming the
  kustomization file (relative to ``root``), the field and the entry; it
  reads files only and never follows a refused path.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re
from collections.abc import Iterator
from typing import Any

from controllers.kustomize import kustomizefiles
from shared.kube import manifests

OUTSIDE = "outside"
REMOTE = "remote"

_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*)://", re.I)
_SCP = re.compile(r"^[\w.~-]+@[\w.-]+:", re.I)
_GIT_HOST = re.compile(r"^(?:github\.com|gitlab\.com|bitbucket\.org)[:/]", re.I)
_HOST = re.compile(r"^[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}(?::\d+)?/", re.I)
# Fields whose entries may be a kustomization directory that kustomize builds.
_BUILT_FIELDS = ("resources", "bases", "components")
_PLUGIN_FIELDS = ("generators", "transformers", "validators")
_FILE_FIELDS = ("crds", "configurations")
# Path keys of builtin plugin configurations (PatchTransformer, HelmChartInflationGenerator …).
_PLUGIN_PATH_KEYS = ("path", "paths", "chartHome", "valuesFile", "additionalValuesFiles")


@dataclasses.dataclass(frozen=True)
class Refusal:
    """One entry kustomize must not load: where it is written, and why."""

    kustomization: str
    field: str
    entry: str
    reason: str

    def message(self) -> str:
        if self.reason == REMOTE:
            return (
                f"{self.kustomization}: {self.field}: remote reference '{self.entry}' "
                "is not allowed (--no-remote-bases)"
            )
        return (
            f"{self.kustomization}: {self.field}: '{self.entry}' "
            "is not in or below the artifact root"
        )


def is_remote(entry: str, *, directory: pathlib.Path) -> bool:
    """Whether kustomize may fetch ``entry``, written in ``directory``, from the network.

    A host-name first segment (``example.org/team/repo``) counts as remote
    unless it names an existing local path; the hosts kustomize always clones
    from (``github.com/…``) count as remote even then.
    """
    text = entry.strip()
    if text.startswith(("./", "../", "/")):
        return False
    if text.lower().startswith(("git::", "gh:")) or _SCHEME.match(text) or _SCP.match(text):
        return True
    if _GIT_HOST.match(text):
        return True
    return bool(_HOST.match(text)) and not os.path.lexists(directory / text)


def refusals(directory: pathlib.Path, *, root: pathlib.Path, allow_remote: bool) -> list[Refusal]:
    """Every entry of the kustomizations reachable from ``directory`` that leaves ``root``."""
    walk = _Walk(root=root.resolve(), allow_remote=allow_remote)
    walk.run(directory.resolve())
    return walk.found


@dataclasses.dataclass
class _Walk:
    root: pathlib.Path
    allow_remote: bool
    found: list[Refusal] = dataclasses.field(default_factory=list)
    seen: set[pathlib.Path] = dataclasses.field(default_factory=set)
    pending: list[pathlib.Path] = dataclasses.field(default_factory=list)

    def run(self, start: pathlib.Path) -> None:
        self.pending.append(start)
        while self.pending:
            current = self.pending.pop()
            if current not in self.seen:
                self.seen.add(current)
                self._visit(current)

    def _visit(self, directory: pathlib.Path) -> None:
        path = kustomizefiles.kustomization_file(directory)
        if path is None:
            return  # kustomize reports a directory without a kustomization
        name = self._name(path)
        if not self._inside(path.resolve()):
            self.found.append(Refusal(name, "kustomization file", path.name, OUTSIDE))
            return
        document = _read_mapping(path)
        if document is None:
            return
        for field, entry in _paths(document):
            self._check(directory, name, field, entry)
        for field in _PLUGIN_FIELDS:
            for item in _strings_or_inline(document.get(field)):
                if isinstance(item, dict):
                    self._check_plugin(directory, name, f"{field} (inline)", item)
                elif self._check(directory, name, field, item):
                    self._plugin_file(directory, name, field, item)

    def _check(self, directory: pathlib.Path, name: str, field: str, entry: str) -> bool:
        """Record a refusal for ``entry``; True when it is a local path inside the root."""
        if not entry:
            return False
        scheme = _SCHEME.match(entry.strip())
        if scheme is not None and scheme.group(1).lower() == "file":
            self.found.append(Refusal(name, field, entry, OUTSIDE))
            return False
        if is_remote(entry, directory=directory):
            if not self.allow_remote:
                self.found.append(Refusal(name, field, entry, REMOTE))
            return False
        try:
            target = (directory / entry).resolve()
            inside = self._inside(target)
            builds = field in (*_BUILT_FIELDS, *_PLUGIN_FIELDS) and inside and target.is_dir()
        except (OSError, ValueError, RuntimeError):
            # NB: a NUL byte, a too-long name or a symlink loop: not provably inside.
            inside = builds = False
        if not inside:
            self.found.append(Refusal(name, field, entry, OUTSIDE))
            return False
        if builds:
            self.pending.append(target)
        return True

    def _plugin_file(self, directory: pathlib.Path, name: str, field: str, entry: str) -> None:
        target = (directory / entry).resolve()  # _check resolved it already
        if not target.is_file():
            return  # a kustomization directory (walked) or missing (kustomize reports it)
        for config in _read_documents(target):
            self._check_plugin(directory, name, f"{field} '{entry}'", config)

    def _check_plugin(
        self, directory: pathlib.Path, name: str, field: str, config: dict[str, Any]
    ) -> None:
        # Builtin plugins resolve their paths against the kustomization naming them.
        for key, entry in _plugin_paths(config):
            self._check(directory, name, f"{field}: {key}", entry)

    def _inside(self, target: pathlib.Path) -> bool:
        return target == self.root or self.root in target.parents

    def _name(self, path: pathlib.Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)


def _paths(document: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(field, entry) for every path-valued field of a kustomization except plugin lists."""
    for field in (*_BUILT_FIELDS, *_FILE_FIELDS):
        for entry in _strings(document.get(field)):
            yield field, entry
    for patch in _strings_or_inline(document.get("patchesStrategicMerge")):
        if isinstance(patch, str):
            yield "patchesStrategicMerge", patch
    for field in ("patches", "patchesJson6902", "replacements"):
        for item in _mappings(document.get(field)):
            yield from _keyed(f"{field}[].", item, ("path",))
    openapi = document.get("openapi")
    if isinstance(openapi, dict):
        yield from _keyed("openapi.", openapi, ("path",))
    for field in ("configMapGenerator", "secretGenerator"):
        for generator in _mappings(document.get(field)):
            yield from _generator_sources(field, generator)
    globals_ = document.get("helmGlobals")
    if isinstance(globals_, dict):
        yield from _keyed("helmGlobals.", globals_, ("chartHome", "configHome"))
    for chart in _mappings(document.get("helmCharts")):
        yield from _keyed("helmCharts[].", chart, ("valuesFile", "additionalValuesFiles"))
        if chart.get("repo"):
            # A chart repository is always fetched over the network.
            yield "helmCharts[].repo", _remote_form(str(chart["repo"]))
    for chart in _mappings(document.get("helmChartInflationGenerator")):
        yield from _keyed(
            "helmChartInflationGenerator[].", chart, ("chartHome", "helmHome", "values")
        )
        if chart.get("chartRepoUrl"):
            yield (
                "helmChartInflationGenerator[].chartRepoUrl",
                _remote_form(str(chart["chartRepoUrl"])),
            )


def _plugin_paths(config: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Path fields of a builtin plugin configuration (PatchTransformer, ConfigMapGenerator …)."""
    yield from _keyed("", config, _PLUGIN_PATH_KEYS)
    yield from _generator_sources("", config)
    for item in _mappings(config.get("replacements")):
        yield from _keyed("replacements[].", item, ("path",))


def _generator_sources(field: str, generator: dict[str, Any]) -> Iterator[tuple[str, str]]:
    prefix = f"{field}[]." if field else ""
    for source in _strings(generator.get("files")):
        # ``key=path`` names the data key; the path is after the first ``=``.
        yield f"{prefix}files", source.partition("=")[2] or source
    for key in ("envs", "env"):
        for source in _strings(generator.get(key)):
            yield f"{prefix}{key}", source


def _keyed(prefix: str, item: dict[str, Any], keys: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """(``prefix`` + key, entry) for the path entries of ``item`` under ``keys``."""
    for key in keys:
        for entry in _strings(item.get(key)):
            yield prefix + key, entry


def _remote_form(url: str) -> str:
    """A repository URL as a remote reference, even when written without a scheme."""
    return url if _SCHEME.match(url) or url.startswith(("./", "../", "/")) else f"git::{url}"


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def _mappings(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _strings_or_inline(value: Any) -> list[str | dict[str, Any]]:
    """Entries of a path-or-inline-YAML list: paths as strings, inline YAML as mappings."""
    entries: list[str | dict[str, Any]] = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict):
            entries.append(item)
        elif isinstance(item, str):
            inline = _inline(item)
            entries.extend(inline if inline is not None else [item])
    return entries


def _inline(text: str) -> list[dict[str, Any]] | None:
    """The YAML mappings of an entry written inline, None when it is a path."""
    if "\n" not in text.strip() and not text.lstrip().startswith("{"):
        return None
    try:
        return manifests.load_all(text)
    except manifests.ManifestError:
        return None


def _read_mapping(path: pathlib.Path) -> dict[str, Any] | None:
    documents = _read_documents(path)
    return documents[0] if documents else None


def _read_documents(path: pathlib.Path) -> list[dict[str, Any]]:
    try:
        return manifests.load_all(path.read_text())
    except (OSError, UnicodeDecodeError, manifests.ManifestError):
        return []
