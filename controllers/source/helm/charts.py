"""Charts as plain tar + YAML: read, validate as Helm does, merge values, package.

Contract:

- ``check_archive(data, limits)`` checks a chart ``.tgz`` as
  ``from_archive`` does (same refusals) reading only the tar headers and
  ``Chart.yaml``: for a chart kept byte for byte; it returns the metadata.
- ``from_archive(data, limits)`` reads a chart ``.tgz`` (files under one
  top-level directory); ``from_directory(root, path, limits)`` reads a chart
  directory from a source tree (``path`` relative to ``root``, never escaping
  it). Both refuse what Helm's loader refuses, with Helm's message
  ("Chart.yaml file is missing", "validation: chart.metadata.name is
  required", ``validation: chart.metadata.version "x" is invalid`` …), and
  files over ``limits.max_file_size`` or charts over ``limits.max_size``.
- ``Chart.merge_values(paths, ...)`` merges values files (of the chart, or of
  the source tree: ``read_files``) in order (maps
  merged deeply, the later file winning, as Flux's ``MergeMaps``) into the
  chart's ``values.yaml``; ``values.yaml`` itself is the chart's own values.
- ``Chart.set_version_metadata(meta)`` appends ``+meta`` to the version (Flux's
  revision for values files and the Revision strategy).
- ``Chart.package()`` is the ``<name>-<version>.tgz`` bytes (``<name>/…`` members).
- ``file://`` dependencies of a chart from a source tree are packaged into its
  ``charts/`` directory (``build_local_dependencies``), which returns the
  repository dependencies still to fetch.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import io
import os
import pathlib
import re
import tarfile
from collections.abc import Callable, Iterator
from typing import Any, cast

import yaml
from isal import isal_zlib

from controllers.source.helm import errors
from shared.api import semverranges as constraints

CHART_FILE = "Chart.yaml"
VALUES_FILE = "values.yaml"
API_VERSIONS = ("v1", "v2")
_GZIP_WBITS = 16 + 15
"""A gzip wrapper around a deflate stream with the largest window."""
# NB: isal's stub declares ``error`` as an instance; at run time it is the exception class.
_INFLATE_ERROR = cast(type[Exception], isal_zlib.error)
_NAME_RE = re.compile(r"^[a-zA-Z0-9._-]+$")
_YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's loader when PyYAML has it: ``Chart.yaml`` is read on every pull."""
_STRICT_SEMVER = re.compile(
    r"^v?(0|[1-9]\d*)(\.(0|[1-9]\d*))?(\.(0|[1-9]\d*))?"
    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$"
)


@dataclasses.dataclass(frozen=True)
class Limits:
    """``--helm-chart-max-size`` (a whole chart) and ``--helm-chart-file-max-size`` (one file)."""

    max_size: int = 10 << 20
    max_file_size: int = 5 << 20


@dataclasses.dataclass
class Chart:
    """A chart in memory: its metadata and its files by path inside the chart."""

    metadata: dict[str, Any]
    files: dict[str, bytes]
    values_files: list[str] = dataclasses.field(default_factory=list)
    """The values files merged into this chart, in order."""

    @property
    def name(self) -> str:
        return str(self.metadata["name"])

    @property
    def version(self) -> str:
        return str(self.metadata["version"])

    def merge_values(
        self, paths: list[str], *, base: dict[str, bytes] | None = None, ignore_missing: bool
    ) -> None:
        """Merge ``paths`` (in the chart, or in ``base`` for a source tree) into values.yaml."""
        files = base if base is not None else self.files
        merged: dict[str, Any] = {}
        used: list[str] = []
        for path in paths:
            clean = os.path.normpath(path).lstrip("/")
            data = (
                self.files.get(VALUES_FILE)
                if clean == VALUES_FILE and base is None
                else files.get(clean)
            )
            if data is None:
                if ignore_missing:
                    continue
                raise errors.BuildError(
                    errors.VALUES_FILES, f"no values file found at path '{path}'"
                )
            try:
                values = yaml.safe_load(data) or {}
            except yaml.YAMLError as invalid:
                raise errors.BuildError(
                    errors.VALUES_FILES, f"unmarshaling values from '{path}' failed: {invalid}"
                ) from invalid
            if not isinstance(values, dict):
                raise errors.BuildError(
                    errors.VALUES_FILES, f"unmarshaling values from '{path}' failed: not a map"
                )
            merged = merge_maps(merged, values)
            used.append(path)
        self.values_files = used
        if used:
            self.files[VALUES_FILE] = yaml.safe_dump(merged, sort_keys=True).encode()

    def set_version_metadata(self, build: str) -> None:
        parsed = constraints.parse_version(self.version)
        if parsed is None:
            raise errors.BuildError(
                errors.METADATA_PATCH,
                f"failed to parse version from chart metadata as SemVer: {self.version}",
            )
        if not re.fullmatch(r"[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*", build):
            raise errors.BuildError(
                errors.METADATA_PATCH,
                f"failed to set SemVer metadata on chart version: invalid metadata '{build}'",
            )
        self.metadata["version"] = str(parsed.replace(build=build))
        self.files[CHART_FILE] = yaml.safe_dump(self.metadata, sort_keys=False).encode()

    def package(self) -> bytes:
        """The chart as ``<name>-<version>.tgz`` content (deterministic member order)."""
        out = io.BytesIO()
        with (
            gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as compressed,
            tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            for path in sorted(self.files, key=lambda p: (p != CHART_FILE, p)):
                data = self.files[path]
                info = tarfile.TarInfo(f"{self.name}/{path}")
                info.size = len(data)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(data))
        return out.getvalue()


def merge_maps(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """``overlay`` merged into a copy of ``base``: maps merge deeply, anything else replaces."""
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_maps(merged[key], value)
        else:
            merged[key] = value
    return merged


def validate_metadata(metadata: Any) -> dict[str, Any]:
    """Helm's ``Metadata.Validate`` (with the loader's v1 default), Helm's messages."""
    if not isinstance(metadata, dict):
        raise errors.HelmError("validation: chart.metadata is required")
    metadata.setdefault("apiVersion", "v1")
    api_version = metadata.get("apiVersion")
    if not api_version:
        raise errors.HelmError("validation: chart.metadata.apiVersion is required")
    if api_version not in API_VERSIONS:
        raise errors.HelmError(
            f'apiVersion \'{api_version}\' is not valid. The value must be either "v1" or "v2"'
        )
    name = metadata.get("name")
    if not name:
        raise errors.HelmError("validation: chart.metadata.name is required")
    if not isinstance(name, str) or os.path.basename(name) != name or not _NAME_RE.match(name):
        raise errors.HelmError(f'validation: chart.metadata.name "{name}" is invalid')
    version = metadata.get("version")
    if version is None or version == "":
        raise errors.HelmError("validation: chart.metadata.version is required")
    if not _STRICT_SEMVER.match(str(version)):
        raise errors.HelmError(f'validation: chart.metadata.version "{version}" is invalid')
    metadata["version"] = str(version)
    if metadata.get("type") not in (None, "", "application", "library"):
        raise errors.HelmError("validation: chart.metadata.type must be application or library")
    return metadata


def _metadata(raw: bytes | None) -> dict[str, Any]:
    if raw is None:
        raise errors.HelmError("Chart.yaml file is missing")
    try:
        metadata = yaml.load(raw, Loader=_YAML_LOADER)
    except yaml.YAMLError as invalid:
        raise errors.HelmError(f"cannot load Chart.yaml: {invalid}") from invalid
    return validate_metadata(metadata)


def _chart(files: dict[str, bytes]) -> Chart:
    return Chart(metadata=_metadata(files.get(CHART_FILE)), files=files)


def _check_sizes(name: str, size: int, total: int, limits: Limits) -> None:
    if size > limits.max_file_size:
        raise errors.HelmError(
            f"size of file '{name}' exceeds the maximum chart file size"
            f" of {limits.max_file_size} bytes"
        )
    if total > limits.max_size:
        raise errors.HelmError(f"chart exceeds the maximum chart size of {limits.max_size} bytes")


class Inflater:
    """A chart's gzip stream inflated as it arrives (ISA-L: about twice zlib's speed).

    ``feed`` each chunk (a download inflates while the rest is still on its
    way), then ``finish`` for the tar. Bounded: the files may hold
    ``limits.max_size`` bytes in all and tar's headers and padding add at
    most as much again (plus a margin), so a stream that inflates past that
    is refused before it fills the memory.
    """

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._bound = 2 * limits.max_size + (1 << 20)
        self._inflater = isal_zlib.decompressobj(_GZIP_WBITS)
        self._parts: list[bytes] = []
        self._size = 0

    def feed(self, chunk: bytes) -> None:
        try:
            out = self._inflater.decompress(chunk, self._bound + 1 - self._size)
        except _INFLATE_ERROR as invalid:
            raise errors.HelmError(f"failed to read chart archive: {invalid}") from invalid
        self._size += len(out)
        if self._size > self._bound or self._inflater.unconsumed_tail:
            raise errors.HelmError(
                f"chart exceeds the maximum chart size of {self._limits.max_size} bytes"
            )
        self._parts.append(out)

    def finish(self) -> bytes:
        """The whole tar; ``HelmError`` when the gzip stream did not end."""
        if not self._inflater.eof:
            raise errors.HelmError("failed to read chart archive: unexpected end of data")
        return b"".join(self._parts)


def _inflated(data: bytes, limits: Limits, tar: bytes | None) -> bytes:
    if len(data) > limits.max_size:
        raise errors.HelmError(f"chart exceeds the maximum chart size of {limits.max_size} bytes")
    if tar is None:
        inflater = Inflater(limits)
        inflater.feed(data)
        tar = inflater.finish()
    return tar


def _members(tar: bytes, limits: Limits) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """The regular files of a chart's tar: path inside the chart, content reader.

    Only the headers are read (tar seeks over the content): a file leaving
    the chart's directory, a file or a chart over the limits, or content
    cut short is refused here, before anything is read.
    """
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(tar), mode="r:") as archive:
            for member in archive:
                if not member.isfile():
                    continue
                parts = pathlib.PurePosixPath(member.name).parts
                if len(parts) < 2 or ".." in parts:
                    raise errors.HelmError(
                        "chart illegally contains content outside the base directory:"
                        f" '{member.name}'"
                    )
                total += member.size
                _check_sizes(member.name, member.size, total, limits)
                if not member.issparse() and member.offset_data + member.size > len(tar):
                    raise errors.HelmError("failed to read chart archive: unexpected end of data")
                yield "/".join(parts[1:]), functools.partial(_content, tar, archive, member)
    except (tarfile.TarError, OSError, EOFError) as invalid:
        raise errors.HelmError(f"failed to read chart archive: {invalid}") from invalid


def _content(tar: bytes, archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    if member.issparse():
        extracted = archive.extractfile(member)
        assert extracted is not None
        return extracted.read()
    return tar[member.offset_data : member.offset_data + member.size]


def from_archive(data: bytes, limits: Limits, *, tar: bytes | None = None) -> Chart:
    """Read a chart ``.tgz``; ``HelmError`` with Helm's message when it is not a chart.

    ``tar`` is ``data`` inflated already (by an ``Inflater`` fed while downloading).
    """
    tar = _inflated(data, limits, tar)
    files = {path: read() for path, read in _members(tar, limits)}
    if not files:
        raise errors.HelmError("no files in chart archive")
    return _chart(files)


def check_archive(data: bytes, limits: Limits, *, tar: bytes | None = None) -> dict[str, Any]:
    """The checked metadata of a chart ``.tgz`` that ``from_archive`` would accept.

    The same checks and messages as ``from_archive`` (every header, the
    limits, ``Chart.yaml``), without copying the files out: for a chart
    stored byte for byte.
    """
    tar = _inflated(data, limits, tar)
    chart_file: bytes | None = None
    found = False
    for path, read in _members(tar, limits):
        found = True
        if path == CHART_FILE:
            chart_file = read()
    if not found:
        raise errors.HelmError("no files in chart archive")
    return _metadata(chart_file)


def read_tree(root: pathlib.Path, path: str, limits: Limits) -> dict[str, bytes]:
    """The regular files under ``root/path`` by relative path (symlinks out of root refused)."""
    base = (root / path).resolve()
    if not base.is_relative_to(root.resolve()):
        raise errors.HelmError(f"path '{path}' is outside the source")
    if not base.is_dir():
        raise errors.HelmError(f"path '{path}' not found")
    files: dict[str, bytes] = {}
    total = 0
    for file in sorted(base.rglob("*")):
        if not file.is_file():
            continue
        if not file.resolve().is_relative_to(root.resolve()):
            raise errors.HelmError(f"file '{file.relative_to(base)}' links outside the source")
        relative = file.relative_to(base).as_posix()
        size = file.stat().st_size
        total += size
        _check_sizes(relative, size, total, limits)
        files[relative] = file.read_bytes()
    return files


def read_files(root: pathlib.Path, paths: list[str], limits: Limits) -> dict[str, bytes]:
    """The files ``paths`` of the source tree ``root`` that exist, by normalised path.

    A path that leaves ``root`` (``..``, a symlink) is a ``ValuesFilesError``.
    """
    found: dict[str, bytes] = {}
    for path in paths:
        clean = os.path.normpath(path).lstrip("/")
        file = (root / clean).resolve()
        if not file.is_relative_to(root.resolve()):
            raise errors.BuildError(errors.VALUES_FILES, f"path '{path}' is outside the source")
        if not file.is_file():
            continue
        _check_sizes(clean, file.stat().st_size, 0, limits)
        found[clean] = file.read_bytes()
    return found


def from_directory(root: pathlib.Path, path: str, limits: Limits) -> Chart:
    """Read the chart directory ``path`` of the source tree ``root``."""
    return _chart(read_tree(root, path, limits))


def build_local_dependencies(
    chart: Chart, *, root: pathlib.Path, path: str, limits: Limits, nested: bool = False
) -> list[dict[str, Any]]:
    """Package each missing ``file://`` dependency into ``charts/``; return the others.

    A dependency already in ``charts/`` (vendored) is kept. The repository
    dependencies still missing are returned for the caller to fetch (a
    sub-chart's own must be vendored: a ``DependencyBuildError`` otherwise).
    """
    missing: list[dict[str, Any]] = []
    for dependency in chart.metadata.get("dependencies") or ():
        name = str(dependency.get("name", ""))
        vendored = any(
            p.startswith(f"charts/{name}/")
            or re.fullmatch(rf"charts/{re.escape(name)}-[^/]+\.tgz", p)
            for p in chart.files
        )
        if vendored:
            continue
        repository = str(dependency.get("repository") or "")
        if not repository.startswith("file://"):
            if nested:
                raise errors.BuildError(
                    errors.DEPENDENCY_BUILD,
                    f"dependency '{name}' of a file:// dependency is not vendored in its charts/",
                )
            missing.append(dependency)
            continue
        relative = os.path.normpath(os.path.join(path, repository.removeprefix("file://")))
        try:
            sub = from_directory(root, relative, limits)
        except errors.HelmError as failed:
            raise errors.BuildError(
                errors.DEPENDENCY_BUILD, f"failed to load dependency '{name}': {failed.message}"
            ) from failed
        build_local_dependencies(sub, root=root, path=relative, limits=limits, nested=True)
        chart.files[f"charts/{sub.name}-{sub.version}.tgz"] = sub.package()
    return missing
