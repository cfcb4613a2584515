"""HelmCharts from HTTP HelmRepositories, and chart dependencies from them.

``RepositoryCharts.build(obj, raw, artifact, cached=, cached_values_files=)``
chooses the version in the repository's stored index (``helm.indexes``: a
Masterminds range, ``*`` by default; no chart or version fitting is
``InvalidChartReference``, which stalls), and downloads it with the
repository's credentials (``helmrepository.client_options``) unless
``cached(name, version)`` says the stored artifact is this build; the chart
is kept as downloaded or packaged again with values files
(``building.from_download``).

``dependency(namespace, url, name, version)`` fetches a chart dependency
through the HTTP HelmRepository of ``url`` in ``namespace``; there must be
one, with an artifact (``DependencyBuildError`` otherwise).

Parsed indexes are kept in the ``indexes.Cache`` by artifact path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

import aiohttp

from controllers.source.helm import charts, clients, errors, indexes
from controllers.source.helmchart import building
from controllers.source.helmrepository import reconciler as helmrepository
from shared.api import meta, source
from shared.artifacts import storage
from shared.kube import client


def is_oci(raw: dict[str, Any]) -> bool:
    """Whether HelmRepository ``raw`` is of ``type: oci``."""
    return (raw.get("spec") or {}).get("type") == "oci"


class RepositoryCharts:
    """Charts from HTTP chart repositories (see the module docstring)."""

    def __init__(
        self,
        *,
        api: client.Client,
        store: storage.Storage,
        session: aiohttp.ClientSession,
        cache: indexes.Cache,
        repositories: Callable[[], Iterable[dict[str, Any]]],
        limits: charts.Limits,
    ) -> None:
        self._api = api
        self._store = store
        self._session = session
        self._cache = cache
        self._repositories = repositories
        self._limits = limits

    async def build(
        self,
        obj: source.HelmChart,
        raw: dict[str, Any],
        artifact: meta.Artifact,
        *,
        cached: Callable[[str, str], bool],
        cached_values_files: list[str] | None,
    ) -> building.Build:
        """The build of ``obj``'s chart from HelmRepository ``raw`` with index ``artifact``."""
        index = await self._index(artifact)
        try:
            entry = index.get(obj.spec.chart, obj.spec.version)
        except indexes.ChartReferenceError as missing:
            raise errors.BuildError(
                errors.CHART_REFERENCE,
                f"failed to get chart version for remote reference: {missing.message}",
            ) from missing
        name, version = str(entry["name"]), str(entry["version"])
        build_metadata = building.version_metadata(obj, artifact.revision)
        target = building.target_version(version, build_metadata)
        if cached(name, target):
            return building.unchanged(
                obj,
                name,
                target,
                packaged=bool(build_metadata),
                cached_values_files=cached_values_files,
            )
        data = await self._download(raw, entry)
        return await asyncio.to_thread(
            building.from_download,
            obj,
            data,
            name=name,
            version=version,
            build_metadata=build_metadata,
            limits=self._limits,
        )

    async def dependency(self, namespace: str, url: str, name: str, version: str) -> bytes:
        """Chart ``name`` through the HTTP HelmRepository of ``url`` in ``namespace``."""
        found = [
            raw
            for raw in self._repositories()
            if raw["metadata"].get("namespace") == namespace
            and str((raw.get("spec") or {}).get("url", "")).rstrip("/") == url
            and not is_oci(raw)
        ]
        if not found:
            raise errors.BuildError(
                errors.DEPENDENCY_BUILD,
                f"no HelmRepository found for '{url}' in '{namespace}' namespace",
            )
        raw = found[0]
        artifact_raw = (raw.get("status") or {}).get("artifact")
        artifact = meta.Artifact.model_validate(artifact_raw) if artifact_raw else None
        if artifact is None or not self._store.exists(artifact):
            raise errors.BuildError(
                errors.DEPENDENCY_BUILD,
                f"no artifact available for HelmRepository '{raw['metadata']['name']}'",
            )
        index = await self._index(artifact)
        try:
            entry = index.get(name, version)
        except indexes.ChartReferenceError as missing:
            raise errors.BuildError(
                errors.DEPENDENCY_BUILD, f"failed to get chart '{name}': {missing.message}"
            ) from missing
        return await self._download(raw, entry)

    async def _index(self, artifact: meta.Artifact) -> indexes.Index:
        cached = self._cache.get(artifact.path)
        if cached is not None:
            return cached
        local = self._store.local_path(artifact.path)
        try:
            index = await asyncio.to_thread(lambda: indexes.parse(local.read_bytes()))
        except (OSError, errors.HelmError) as failure:
            raise errors.BuildError(
                errors.CHART_PULL, f"failed to load index '{artifact.path}': {failure}"
            ) from failure
        self._cache.put(artifact.path, index)
        return index

    async def _download(self, raw: dict[str, Any], entry: dict[str, Any]) -> bytes:
        """The chart of index ``entry`` from HelmRepository ``raw``, with its credentials."""
        urls = entry.get("urls") or []
        if not urls:
            raise errors.BuildError(
                errors.CHART_PULL, f"chart '{entry.get('name')}' has no downloadable URLs"
            )
        repository = source.HelmRepository.model_validate(raw)
        options = await helmrepository.client_options(self._api, repository)
        try:
            return await clients.download(
                self._session, options, str(urls[0]), max_size=self._limits.max_size
            )
        except errors.HelmError as failure:
            raise errors.BuildError(
                errors.CHART_PULL,
                f"failed to download chart for remote reference: {failure.message}",
            ) from failure
