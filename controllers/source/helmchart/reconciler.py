"""The HelmChart reconciler: a packaged chart ``.tgz`` from a HelmRepository or a GitRepository.

Steps (``HelmChartReconciler.steps``):

1. **chart** — find the source (``FetchFailed``/``SourceUnavailable`` when it
   is missing; ``Bucket`` and OCI HelmRepositories are not supported yet and
   say so) and its artifact (``NoSourceArtifact``, retried after the
   interval); record ``observedSourceArtifactRevision``; build:

   - from a HelmRepository: choose the version in the stored index (a
     Masterminds range, ``*`` by default; ``InvalidChartReference`` stalls
     when no chart or version fits), and download it with the repository's
     credentials unless the stored artifact is that version already;
   - from a GitRepository: read the chart directory ``spec.chart`` of the
     source artifact, build its ``file://`` dependencies and fetch its
     repository dependencies through the HelmRepository (same namespace) with
     that URL, unless the stored chart came from this very source revision
     and generation.

   Values files are merged in order into ``values.yaml``; the version gets
   Flux's build metadata: ``+<generation>`` with values files, ``+<first 12 of
   the commit>`` with ``reconcileStrategy: Revision`` (and ``.<generation>``
   after it with values files). Build failures are ``BuildFailed`` or
   ``FetchFailed`` with Flux's reasons; a persistent one stalls. A new build
   marks ``ArtifactOutdated``/``NewChart``.
2. **artifact** — the chart stored as ``<name>-<version>.tgz`` with the
   version as revision, ``latest.tar.gz`` as ``status.url``,
   ``observedChartName``, ``observedValuesFiles`` (with
   ``ignoreMissingValuesFiles``), garbage collection, and a ``ChartPullSucceeded``
   or ``ChartPackageSucceeded`` event ("packaged 'x' chart with version 'y'").

A failure keeps the last artifact. Deleting a HelmChart removes its storage directory.
"""

from __future__ import annotations

import asyncio
import dataclasses
import pathlib
import shutil
import tempfile
from typing import Any

import aiohttp

from controllers.source.helm import charts, clients, errors, indexes
from controllers.source.helmrepository import reconciler as helmrepository
from shared.api import meta, objects, source, source_conditions
from shared.artifacts import errors as storage_errors
from shared.artifacts import extracting, storage
from shared.kube import client
from shared.runtime import conditions, events, informers, logging, reconciling, results

SUMMARY = conditions.Summary(
    owned=(
        source_conditions.STORAGE_OPERATION_FAILED_CONDITION,
        source_conditions.FETCH_FAILED_CONDITION,
        source_conditions.BUILD_FAILED_CONDITION,
        source_conditions.ARTIFACT_OUTDATED_CONDITION,
        source_conditions.ARTIFACT_IN_STORAGE_CONDITION,
    ),
    negative=frozenset(
        {
            source_conditions.STORAGE_OPERATION_FAILED_CONDITION,
            source_conditions.FETCH_FAILED_CONDITION,
            source_conditions.BUILD_FAILED_CONDITION,
            source_conditions.ARTIFACT_OUTDATED_CONDITION,
        }
    ),
)
LATEST_LINK = "latest.tar.gz"
_CHART_CONDITIONS = (
    source_conditions.FETCH_FAILED_CONDITION,
    source_conditions.BUILD_FAILED_CONDITION,
)
_STORAGE_CONDITIONS = (
    source_conditions.STORAGE_OPERATION_FAILED_CONDITION,
    source_conditions.ARTIFACT_OUTDATED_CONDITION,
    source_conditions.ARTIFACT_IN_STORAGE_CONDITION,
)


@dataclasses.dataclass
class Build:
    """What the chart step decided: the chart's name and version, and new content if any."""

    name: str
    version: str
    packaged: bool
    values_files: list[str]
    data: bytes | None = None
    """The ``.tgz`` to store; None when the stored artifact is this build already."""

    def summary(self) -> str:
        """Flux's ``Build.Summary``."""
        action = "packaged" if self.packaged else "pulled"
        text = f"{action} '{self.name}' chart with version '{self.version}'"
        if self.values_files:
            text += f" and merged values files [{' '.join(self.values_files)}]"
        return text


@dataclasses.dataclass(eq=False, kw_only=True)
class _Run(reconciling.Run[source.HelmChart, source.HelmChartStatus]):
    build: Build = dataclasses.field(init=False)


def storage_key(obj: source.HelmChart) -> storage.ObjectKey:
    return storage.ObjectKey(
        kind="HelmChart",
        namespace=obj.metadata.namespace or "default",
        name=obj.metadata.name or "",
    )


def _version_metadata(obj: source.HelmChart, source_revision: str) -> str:
    """Flux's build metadata: the short source revision (Revision strategy), the generation."""
    parts = []
    kind = obj.spec.source_ref.kind
    # NB: as in Flux, the Revision strategy applies to Git and Bucket sources only.
    if obj.spec.reconcile_strategy == "Revision" and kind in ("GitRepository", "Bucket"):
        parts.append(source_revision.rsplit(":", 1)[-1][:12])
    if obj.spec.values_files:
        parts.append(str(obj.metadata.generation or 0))
    return ".".join(parts)


class HelmChartReconciler:
    """Reconciles HelmCharts into packaged chart artifacts in ``store``."""

    kind = source.HelmChart
    status_type = source.HelmChartStatus
    run_type = _Run
    summary = SUMMARY

    def __init__(
        self,
        *,
        api: client.Client,
        store: storage.Storage,
        recorder: events.Recorder,
        session: aiohttp.ClientSession,
        helm_repositories: informers.Informer,
        git_repositories: informers.Informer,
        cache: indexes.Cache,
        limits: charts.Limits | None = None,
    ) -> None:
        self._api = api
        self._store = store
        self._recorder = recorder
        self._session = session
        self._sources = {
            "HelmRepository": helm_repositories,
            "GitRepository": git_repositories,
        }
        self._cache = cache
        self._limits = limits or charts.Limits()
        self.steps: tuple[reconciling.Step[_Run], ...] = (
            reconciling.Step("chart", self._chart, owns=_CHART_CONDITIONS),
            reconciling.Step("artifact", self._artifact, owns=_STORAGE_CONDITIONS),
        )

    def interval(self, obj: source.HelmChart) -> float:
        return meta.parse_duration(obj.spec.interval).total_seconds()

    async def finalize(self, obj: source.HelmChart) -> None:
        await self._store.remove_object(storage_key(obj))

    # --- the chart step ------------------------------------------------------------------

    @staticmethod
    def _fetch_failed(run: _Run, message: str, reason: str) -> str:
        """Mark ``FetchFailed`` with ``reason``; return ``message`` for the error raised next."""
        run.mark(source_conditions.FETCH_FAILED_CONDITION, "True", reason=reason, message=message)
        return message

    def _source(self, run: _Run) -> tuple[dict[str, Any], meta.Artifact]:
        obj = run.obj
        ref = obj.spec.source_ref
        namespace = obj.metadata.namespace or "default"
        informer = self._sources.get(ref.kind)
        if informer is None:
            message = self._fetch_failed(
                run,
                f"failed to get source: {ref.kind} sources are not supported yet",
                source_conditions.SOURCE_UNAVAILABLE_REASON,
            )
            raise results.StallingError(
                message, reason=source_conditions.UNSUPPORTED_SOURCE_KIND_REASON
            )
        raw = informer.get(f"{namespace}/{ref.name}")
        if raw is None:
            reason = source_conditions.SOURCE_UNAVAILABLE_REASON
            message = self._fetch_failed(
                run,
                f'failed to get source: {ref.kind}.{source.GROUP} "{ref.name}" not found',
                reason,
            )
            raise results.ReconcileError(message, reason=reason)
        if ref.kind == "HelmRepository" and (raw.get("spec") or {}).get("type") == "oci":
            reason = source_conditions.UNSUPPORTED_SOURCE_KIND_REASON
            message = self._fetch_failed(
                run, "charts from OCI HelmRepositories are not supported yet", reason
            )
            raise results.StallingError(message, reason=reason)
        artifact_raw = (raw.get("status") or {}).get("artifact")
        artifact = meta.Artifact.model_validate(artifact_raw) if artifact_raw else None
        if artifact is None or not self._store.exists(artifact):
            reason = source_conditions.NO_SOURCE_ARTIFACT_REASON
            message = self._fetch_failed(
                run, f"no artifact available for {ref.kind} source '{ref.name}'", reason
            )
            raise results.WaitingError(message, reason=reason, requeue_after=self.interval(obj))
        return raw, artifact

    def _up_to_date(self, run: _Run, name: str, version: str) -> bool:
        status = run.status
        return (
            status.artifact is not None
            and status.artifact.revision == version
            and status.observed_chart_name == name
            and status.observed_generation == run.generation
            and self._store.exists(status.artifact)
        )

    async def _chart(self, run: _Run) -> None:
        raw, artifact = self._source(run)
        obj = run.obj
        try:
            if obj.spec.source_ref.kind == "HelmRepository":
                build = await self._from_repository(run, raw, artifact)
            else:
                build = await self._from_tree(run, artifact)
        except errors.HelmError as failure:
            raise self._build_failed(run, failure) from failure
        run.status.observed_source_artifact_revision = artifact.revision
        run.delete(
            source_conditions.FETCH_FAILED_CONDITION, source_conditions.BUILD_FAILED_CONDITION
        )
        run.build = build
        run.revision = build.version
        if build.data is not None:
            run.progress(f"building artifact: {build.summary()}", restart=True)

    def _build_failed(self, run: _Run, failure: errors.HelmError) -> Exception:
        if isinstance(failure, errors.BuildError):
            reason, persistent = failure.why.reason, failure.why.persistent
            pulling = failure.why in (errors.CHART_REFERENCE, errors.CHART_PULL)
        else:
            reason, persistent, pulling = failure.reason, failure.stalling, True
        condition = (
            source_conditions.FETCH_FAILED_CONDITION
            if pulling
            else source_conditions.BUILD_FAILED_CONDITION
        )
        run.mark(condition, "True", reason=reason, message=failure.message)
        if persistent:
            return results.StallingError(failure.message, reason=reason)
        return results.ReconcileError(failure.message, reason=reason)

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

    async def _from_repository(
        self, run: _Run, raw: dict[str, Any], artifact: meta.Artifact
    ) -> Build:
        obj = run.obj
        index = await self._index(artifact)
        try:
            entry = index.get(obj.spec.chart, obj.spec.version)
        except indexes.ChartReferenceError as missing:
            raise errors.BuildError(
                errors.CHART_REFERENCE,
                f"failed to get chart version for remote reference: {missing.message}",
            ) from missing
        name, version = str(entry["name"]), str(entry["version"])
        build_metadata = _version_metadata(obj, artifact.revision)
        target = f"{version.split('+', 1)[0]}+{build_metadata}" if build_metadata else version
        packaged = bool(build_metadata)
        if self._up_to_date(run, name, target):
            return Build(
                name=name,
                version=target,
                packaged=packaged,
                values_files=list(run.status.observed_values_files or obj.spec.values_files or []),
            )
        data = await self._download(raw, entry)
        if not packaged:
            await asyncio.to_thread(charts.from_archive, data, self._limits)
            return Build(name=name, version=version, packaged=False, values_files=[], data=data)
        chart = await asyncio.to_thread(self._load_archive, data)
        return await asyncio.to_thread(self._package, chart, obj, build_metadata, None)

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

    def _load_archive(self, data: bytes) -> charts.Chart:
        try:
            return charts.from_archive(data, self._limits)
        except errors.BuildError:
            raise
        except errors.HelmError as failure:
            raise errors.BuildError(
                errors.CHART_PACKAGE, f"failed to load downloaded chart: {failure.message}"
            ) from failure

    def _package(
        self,
        chart: charts.Chart,
        obj: source.HelmChart,
        build_metadata: str,
        tree: dict[str, bytes] | None,
    ) -> Build:
        chart.merge_values(
            list(obj.spec.values_files or []),
            base=tree,
            ignore_missing=bool(obj.spec.ignore_missing_values_files),
        )
        if build_metadata:
            chart.set_version_metadata(build_metadata)
        return Build(
            name=chart.name,
            version=chart.version,
            packaged=True,
            values_files=chart.values_files,
            data=chart.package(),
        )

    async def _from_tree(self, run: _Run, artifact: meta.Artifact) -> Build:
        obj = run.obj
        status = run.status
        if (
            status.observed_source_artifact_revision == artifact.revision
            and status.artifact is not None
            and status.observed_generation == run.generation
            and status.observed_chart_name
            and self._store.exists(status.artifact)
        ):
            # The stored chart was built from this very source and spec.
            return Build(
                name=status.observed_chart_name,
                version=status.artifact.revision,
                packaged=True,
                values_files=list(status.observed_values_files or obj.spec.values_files or []),
            )
        archive = self._store.local_path(artifact.path)
        build_metadata = _version_metadata(obj, artifact.revision)
        workdir = pathlib.Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="helmchart-"))
        try:
            chart, missing = await asyncio.to_thread(self._load_tree, archive, workdir, obj)
            for dependency in missing:
                await self._add_repository_dependency(run, chart, dependency)
            tree = await asyncio.to_thread(
                charts.read_files, workdir, list(obj.spec.values_files or []), self._limits
            )
            return await asyncio.to_thread(self._package, chart, obj, build_metadata, tree)
        finally:
            await asyncio.to_thread(shutil.rmtree, workdir, True)

    def _load_tree(
        self, archive: pathlib.Path, root: pathlib.Path, obj: source.HelmChart
    ) -> tuple[charts.Chart, list[dict[str, Any]]]:
        """Extract the source, read the chart, build its ``file://`` dependencies."""
        try:
            extracting.extract(archive, root)
        except storage_errors.ArtifactError as failure:
            raise errors.FetchError(f"artifact untar error: {failure}") from failure
        path = obj.spec.chart.strip("/")
        try:
            chart = charts.from_directory(root, path, self._limits)
        except errors.HelmError as failure:
            raise errors.BuildError(
                errors.CHART_PACKAGE, f"failed to load chart: {failure.message}"
            ) from failure
        missing = charts.build_local_dependencies(chart, root=root, path=path, limits=self._limits)
        return chart, missing

    async def _add_repository_dependency(
        self, run: _Run, chart: charts.Chart, dependency: dict[str, Any]
    ) -> None:
        """Fetch a repository dependency through the HelmRepository with its URL."""
        namespace = run.obj.metadata.namespace or "default"
        name = str(dependency.get("name", ""))
        url = str(dependency.get("repository") or "").rstrip("/")
        found = [
            raw
            for raw in self._sources["HelmRepository"].objects()
            if raw["metadata"].get("namespace") == namespace
            and str((raw.get("spec") or {}).get("url", "")).rstrip("/") == url
            and (raw.get("spec") or {}).get("type") != "oci"
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
            entry = index.get(name, str(dependency.get("version") or "*"))
        except indexes.ChartReferenceError as missing:
            raise errors.BuildError(
                errors.DEPENDENCY_BUILD, f"failed to get chart '{name}': {missing.message}"
            ) from missing
        data = await self._download(raw, entry)
        try:
            sub = await asyncio.to_thread(charts.from_archive, data, self._limits)
        except errors.HelmError as failure:
            raise errors.BuildError(
                errors.DEPENDENCY_BUILD, f"failed to load chart '{name}': {failure.message}"
            ) from failure
        chart.files[f"charts/{sub.name}-{sub.version}.tgz"] = data

    # --- the artifact step ---------------------------------------------------------------

    async def _artifact(self, run: _Run) -> None:
        obj = run.obj
        build = run.build
        status = run.status
        if build.data is not None:
            if status.artifact is not None:
                # NB: marked by the step that clears it, so a failed store leaves
                # the old artifact flagged as outdated.
                run.mark(
                    source_conditions.ARTIFACT_OUTDATED_CONDITION,
                    "True",
                    reason=source_conditions.NEW_CHART_REASON,
                    message=build.summary(),
                )
            await self._store_chart(run, build)
        status.observed_chart_name = build.name
        status.observed_values_files = (
            build.values_files if obj.spec.ignore_missing_values_files else None
        )
        run.delete(
            source_conditions.STORAGE_OPERATION_FAILED_CONDITION,
            source_conditions.ARTIFACT_OUTDATED_CONDITION,
        )
        run.mark(
            source_conditions.ARTIFACT_IN_STORAGE_CONDITION,
            "True",
            reason=_reason(build),
            message=build.summary(),
        )
        run.ready_message = build.summary()

    async def _store_chart(self, run: _Run, build: Build) -> None:
        assert build.data is not None
        artifact = await helmrepository.store_artifact(
            self._store,
            run,
            storage_key(run.obj),
            data=build.data,
            filename=f"{build.name}-{build.version}.tgz",
            revision=build.version,
            link=LATEST_LINK,
            failure="unable to copy Helm chart to storage",
        )
        logging.get_logger().info(build.summary(), revision=build.version)
        await self._recorder.emit(
            objects.dump(run.obj),
            type_=events.NORMAL,
            reason=_reason(build),
            message=build.summary(),
            metadata={"revision": artifact.revision, "digest": artifact.digest},
        )


def _reason(build: Build) -> str:
    if build.packaged:
        return source_conditions.CHART_PACKAGE_SUCCEEDED_REASON
    return source_conditions.CHART_PULL_SUCCEEDED_REASON
