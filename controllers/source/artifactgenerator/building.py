"""Copy operations: source trees in, one generated artifact's tree out (cp-like, as Flux).

``apply(operations, sources, staging)`` runs an OutputArtifact's ``copy``
rules in order into ``staging``; ``sources`` maps each alias to the
directory its artifact was extracted to. Semantics follow Flux's
source-watcher:

- ``from`` is ``@<alias>/<pattern>``. Without glob characters it names one
  file (copied to ``to``, or into it when ``to`` ends in ``/`` or is an
  existing directory) or one directory (copied as ``<to>/<its name>``).
  With them it is matched one path segment at a time (``**`` matches a
  single segment, as Go's ``fs.Glob`` does, except for ``Extract``, where it
  matches any depth); a directory matched is copied whole. ``dir/**`` strips
  the ``dir/`` prefix from the destination; other patterns keep the path.
- ``exclude`` globs (``**`` spanning directories) are matched against the
  path from the source root and from the pattern's literal prefix; one
  without ``/`` also against the file name.
- ``Overwrite`` replaces files; ``Merge`` deep-merges a YAML file into an
  existing one (maps merged key by key, anything else replaced; all documents
  of a file folded into one map); ``Extract`` unpacks the ``.tar.gz``/``.tgz``
  files matched (others skipped; a single named file must be one).

A pattern matching nothing, or only excluded files, is an ``OperationError``.
"""

from __future__ import annotations

import fnmatch
import functools
import pathlib
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from shared.api import source_extensions
from shared.artifacts import errors as artifact_errors
from shared.artifacts import extracting

_GLOB_CHARS = frozenset("*?[]")
_TARBALL_SUFFIXES = (".tar.gz", ".tgz")


class OperationError(Exception):
    """A copy operation that cannot be carried out (the message says which and why)."""


def apply(
    operations: Sequence[source_extensions.CopyOperation],
    sources: Mapping[str, pathlib.Path],
    staging: pathlib.Path,
) -> None:
    """Run ``operations`` in order from ``sources`` (alias → tree) into ``staging``."""
    staging.mkdir(parents=True, exist_ok=True)
    for operation in operations:
        try:
            _apply_one(operation, sources, staging)
        except OperationError as failed:
            raise OperationError(
                f"copy from '{operation.from_}' to '{operation.to}': {failed}"
            ) from failed
        except (OSError, yaml.YAMLError, artifact_errors.ArtifactError) as failed:
            raise OperationError(
                f"copy from '{operation.from_}' to '{operation.to}': {failed}"
            ) from failed


def _apply_one(
    operation: source_extensions.CopyOperation,
    sources: Mapping[str, pathlib.Path],
    staging: pathlib.Path,
) -> None:
    alias, _, pattern = operation.from_.removeprefix("@").partition("/")
    root = sources.get(alias)
    if root is None:
        raise OperationError(f"source alias '{alias}' not found")
    destination = operation.to.removeprefix("@artifact/")
    to_directory = operation.to.endswith("/")
    strategy = operation.strategy or source_extensions.OVERWRITE_STRATEGY
    excludes = list(operation.exclude or [])
    if not _has_glob(pattern):
        _copy_named(root, pattern, staging, destination, to_directory, strategy, excludes)
        return
    base = _literal_prefix(pattern)
    matches = [
        m
        for m in _glob(root, pattern, recursive=strategy == source_extensions.EXTRACT_STRATEGY)
        if not _excluded(m, base, excludes)
    ]
    if not matches:
        raise OperationError(f"no files match pattern '{pattern}' in source '{alias}'")
    for match in matches:
        if strategy == source_extensions.EXTRACT_STRATEGY:
            if match.endswith(_TARBALL_SUFFIXES) and (root / match).is_file():
                _extract(root / match, staging / destination)
            continue
        _copy(root, match, staging, _glob_destination(pattern, match, destination), strategy,
              excludes, base)  # fmt: skip


def _copy_named(
    root: pathlib.Path,
    name: str,
    staging: pathlib.Path,
    destination: str,
    to_directory: bool,
    strategy: str,
    excludes: list[str],
) -> None:
    """cp of one named file or directory."""
    relative = str(pathlib.PurePosixPath(name))
    source = root / relative
    if not source.exists():
        raise OperationError(f"source '{relative}' does not exist")
    if source.is_dir():
        if strategy == source_extensions.EXTRACT_STRATEGY:
            raise OperationError(f"extract strategy is not supported for directories: '{relative}'")
        target = _join(destination, source.name)
        _copy(root, relative, staging, target, strategy, excludes, relative)
        return
    if _excluded(relative, ".", excludes):
        return
    if strategy == source_extensions.EXTRACT_STRATEGY:
        if not relative.endswith(_TARBALL_SUFFIXES):
            raise OperationError(f"extract strategy requires a .tar.gz or .tgz file: '{relative}'")
        _extract(source, staging / destination)
        return
    if to_directory or (staging / destination).is_dir():
        destination = _join(destination, source.name)
    _copy(root, relative, staging, destination, strategy, excludes, ".")


def _copy(
    root: pathlib.Path,
    relative: str,
    staging: pathlib.Path,
    destination: str,
    strategy: str,
    excludes: list[str],
    base: str,
) -> None:
    source = root / relative
    target = staging / destination
    if source.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        for path in sorted(source.rglob("*")):
            inner = path.relative_to(root).as_posix()
            if _excluded(inner, base, excludes) or any(
                _excluded(parent.relative_to(root).as_posix(), base, excludes)
                for parent in path.parents
                if parent != root and parent.is_relative_to(source) and parent != source
            ):
                continue
            if path.is_dir():
                (target / path.relative_to(source)).mkdir(parents=True, exist_ok=True)
            elif path.is_file():
                _copy_file(path, target / path.relative_to(source), merge=False)
        return
    merge = strategy == source_extensions.MERGE_STRATEGY and target.exists()
    _copy_file(source, target, merge=merge)


def _copy_file(source: pathlib.Path, target: pathlib.Path, *, merge: bool) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if merge:
        merged = merge_maps(_load_yaml(target), _load_yaml(source))
        target.write_text(yaml.safe_dump(merged, sort_keys=True))
        return
    shutil.copyfile(source, target)
    shutil.copymode(source, target)


def _load_yaml(path: pathlib.Path) -> dict[str, Any]:
    """Every document of ``path`` folded into one map (later documents win)."""
    folded: dict[str, Any] = {}
    for document in yaml.safe_load_all(path.read_text()):
        if document is None:
            continue
        if not isinstance(document, dict):
            raise OperationError(f"'{path.name}' is not a YAML map; Merge needs maps")
        folded = merge_maps(folded, document)
    return folded


def merge_maps(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """``overlay`` deep-merged into ``base``: maps key by key, any other value replaced."""
    merged = dict(base)
    for key, value in overlay.items():
        current = merged.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            merged[key] = merge_maps(current, value)
        else:
            merged[key] = value
    return merged


def _extract(archive: pathlib.Path, target: pathlib.Path) -> None:
    with tempfile.TemporaryDirectory(prefix="extract-") as scratch:
        tree = pathlib.Path(scratch) / "tree"
        extracting.extract(archive, tree)
        shutil.copytree(tree, target, dirs_exist_ok=True)


def _has_glob(pattern: str) -> bool:
    return any(c in _GLOB_CHARS for c in pattern)


def _literal_prefix(pattern: str) -> str:
    """The path before the first segment with glob characters (``.`` when none)."""
    parts: list[str] = []
    for part in pattern.strip("/").split("/"):
        if _has_glob(part):
            break
        parts.append(part)
    return "/".join(parts) or "."


def _glob(root: pathlib.Path, pattern: str, *, recursive: bool) -> list[str]:
    """Paths under ``root`` matching ``pattern`` (relative, sorted)."""
    if recursive:
        regex = _doublestar(pattern)
        return sorted(
            p.relative_to(root).as_posix()
            for p in root.rglob("*")
            if regex.fullmatch(p.relative_to(root).as_posix())
        )
    current = [""]
    for segment in pattern.strip("/").split("/"):
        following: list[str] = []
        for prefix in current:
            directory = root / prefix if prefix else root
            if not directory.is_dir():
                continue
            if not _has_glob(segment):
                if (directory / segment).exists():
                    following.append(_join(prefix, segment))
                continue
            for child in sorted(directory.iterdir()):
                if fnmatch.fnmatchcase(child.name, segment.replace("**", "*")):
                    following.append(_join(prefix, child.name))
        current = following
    return sorted(current)


def _glob_destination(pattern: str, match: str, destination: str) -> str:
    prefix = pattern.removesuffix("/**")
    if prefix != pattern and match.startswith(prefix + "/"):
        return _join(destination, match.removeprefix(prefix + "/"))
    return _join(destination, match)


def _excluded(path: str, base: str, excludes: Sequence[str]) -> bool:
    if not excludes:
        return False
    candidates = [path]
    if base not in (".", "") and path.startswith(base + "/"):
        candidates.append(path.removeprefix(base + "/"))
    name = path.rsplit("/", 1)[-1]
    for pattern in excludes:
        regex = _doublestar(pattern)
        if any(regex.fullmatch(c) for c in candidates):
            return True
        if "/" not in pattern and regex.fullmatch(name):
            return True
    return False


@functools.lru_cache(maxsize=256)
def _doublestar(pattern: str) -> re.Pattern[str]:
    """A doublestar glob as a regex: ``**`` spans directories, ``*`` and ``?`` do not."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(char))
            else:
                body = pattern[i + 1 : end].replace("\\", "\\\\")
                if body.startswith(("!", "^")):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out))


def _join(directory: str, name: str) -> str:
    joined = "/".join(p for p in (directory.strip("/"), name.strip("/")) if p and p != ".")
    return joined or "."
