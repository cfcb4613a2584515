"""The HelmChart reconciler: a packaged chart ``.tgz`` from a HelmRepository, Git or a Bucket.

Steps (``HelmChartReconciler.steps``):

1. **chart** — find the source (``FetchFailed``/``SourceUnavailable`` when it
   is missing) and, except for an OCI HelmRepository, which has none, its
   artifact (``NoSourceArtifact``, retried after the interval); record
   ``observedSourceArtifactRevision``; build:

   - from an HTTP HelmRepository: choose the version in the stored index (a
     Masterminds range, ``*`` by default; ``InvalidChartReference`` stalls
     when no chart or version fits), and download it with the repository's
     credentials unless the stored artifact is that version already
     (``repositorycharts``);
   - from an OCI HelmRepository: resolve the version against the registry's
     tags, verify the signature when ``spec.verify`` asks, and pull the chart
     layer unless the stored artifact is that version already
     (``registrycharts``); the revision is the chart version, as in Flux;
   - from a GitRepository or a Bucket: read the chart directory ``spec.chart``
     of the source artifact, build its ``file://`` dependencies and fetch its
     repository dependencies through the HelmRepository (same namespace) with
     that URL (``oci://`` ones through the registry), unless the stored chart
     came from this very source revision and generation.

   Values files are merged in order into ``values.yaml``; the version gets
   Flux's build metadata (``building.version_metadata``). Build failures are
   ``BuildFailed`` or ``FetchFailed`` with Flux's reasons; a persistent one
   stalls. A signature that does not verify is ``BuildFailed``/
   ``ChartVerificationError`` and ``SourceVerified=False``; a verified one
   ``SourceVerified=True`` ("verified signature of version …"). A new build
   marks ``ArtifactOutdated``/``NewChart``.
2. **artifact** — the chart stored as ``<name>-<version>.tgz`` with the
   version as revision, ``latest.tar.gz`` as ``status.url``,
   ``observedChartName``, ``observedValuesFiles`` (with
   ``ignoreMissingValuesFiles``), garbage collection, and a ``ChartPullSucceeded``
   or ``ChartPackageSucceeded`` event ("packaged 'x' chart with version 'y'"),
   also on the first success after a failure with the artifact unchanged
   (Flux's recovery notice).

A failure keeps the last artifact. Deleting a HelmChart removes its storage directory.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import pathlib
import shutil
import tempfile
from typing import Any

import aiohttp

from controllers.source import sourcekit
from controllers.source.helm import charts, errors, indexes
from controllers.source.helmchart import building, registrycharts, repositorycharts
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
        source_conditions.SOURCE_VERIFIED_CONDITION,
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
    bipolar=frozenset({source_conditions.SOURCE_VERIFIED_CONDITION}),
)
LATEST_LINK = "latest.tar.gz"
_CHART_CONDITIONS = (
    source_conditions.FETCH_FAILED_CONDITION,
    source_conditions.BUILD_FAILED_CONDITION,
    source_conditions.SOURCE_VERIFIED_CONDITION,
)
_STORAGE_CONDITIONS = (
    source_conditions.STORAGE_OPERATION_FAILED_CONDITION,
    source_conditions.ARTIFACT_OUTDATED_CONDITION,
    source_conditions.ARTIFACT_IN_STORAGE_CONDITION,
)


@dataclasses.dataclass(eq=False, kw_only=True)
class _Run(reconciling.Run[source.HelmChart, source.HelmChartStatus]):
    build: building.Build = dataclasses.field(init=False)


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
        buckets: informers.Informer,
        cache: indexes.Cache,
        limits: charts.Limits | None = None,
    ) -> None:
        self._store = store
        self._recorder = recorder
        self._sources = {
            "HelmRepository": helm_repositories,
            "GitRepository": git_repositories,
            "Bucket": buckets,
        }
        self._limits = limits or charts.Limits()
        self._repositories = repositorycharts.RepositoryCharts(
            api=api,
            store=store,
            session=session,
            cache=cache,
            repositories=helm_repositories.objects,
            limits=self._limits,
        )
        self._registries = registrycharts.RegistryCharts(
            api=api,
            store=store,
            session=session,
            repositories=helm_repositories.objects,
            limits=self._limits,
        )
        self.steps: tuple[reconciling.Step[_Run], ...] = (
            reconciling.Step("chart", self._chart, owns=_CHART_CONDITIONS),
            reconciling.Step("artifact", self._artifact, owns=_STORAGE_CONDITIONS),
        )

    def interval(self, obj: source.HelmChart) -> float:
        return sourcekit.interval(obj)

    async def finalize(self, obj: source.HelmChart) -> None:
        await self._store.remove_object(sourcekit.object_key(obj))

    # --- the chart step ------------------------------------------------------------------

    @staticmethod
    def _fetch_failed(run: _Run, message: str, reason: str) -> str:
        """Mark ``FetchFailed`` with ``reason``; return ``message`` for the error raised next."""
        run.mark(source_conditions.FETCH_FAILED_CONDITION, "True", reason=reason, message=message)
        return message

    def _source(self, run: _Run) -> tuple[dict[str, Any], meta.Artifact | None]:
        """The source object and its artifact (None for an OCI HelmRepository: it has none)."""
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
        if ref.kind == "HelmRepository" and repositorycharts.is_oci(raw):
            return raw, None
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
            if artifact is None:
                repository = source.HelmRepository.model_validate(raw)
                # NB: cloud providers' registry tokens come from identity services.
                sourcekit.require_generic_provider(run, repository.spec.provider)
                build = await self._registries.build(
                    obj,
                    repository,
                    cached=functools.partial(self._up_to_date, run),
                    cached_values_files=run.status.observed_values_files,
                )
            elif obj.spec.source_ref.kind == "HelmRepository":
                build = await self._repositories.build(
                    obj,
                    raw,
                    artifact,
                    cached=functools.partial(self._up_to_date, run),
                    cached_values_files=run.status.observed_values_files,
                )
            else:
                build = await self._from_tree(run, artifact)
        except errors.HelmError as failure:
            raise self._build_failed(run, failure) from failure
        if artifact is not None:
            run.status.observed_source_artifact_revision = artifact.revision
        run.delete(
            source_conditions.FETCH_FAILED_CONDITION, source_conditions.BUILD_FAILED_CONDITION
        )
        if build.verified:
            run.mark(
                source_conditions.SOURCE_VERIFIED_CONDITION,
                "True",
                reason=meta.SUCCEEDED_REASON,
                message=f"verified signature of version {build.version}",
            )
        else:
            run.delete(source_conditions.SOURCE_VERIFIED_CONDITION)
        run.build = build
        run.revision = build.version
        if build.data is not None:
            run.progress(f"building artifact: {build.summary()}", restart=True)

    def _build_failed(self, run: _Run, failure: errors.HelmError) -> Exception:
        if run.obj.spec.verify is None:
            run.delete(source_conditions.SOURCE_VERIFIED_CONDITION)
        verifying = isinstance(failure, errors.VerificationError) or (
            isinstance(failure, errors.BuildError) and failure.why == errors.CHART_VERIFICATION
        )
        if verifying:
            run.mark(
                source_conditions.SOURCE_VERIFIED_CONDITION,
                "False",
                reason=source_conditions.VERIFICATION_ERROR_REASON,
                message=failure.message,
            )
        if isinstance(failure, errors.VerificationError):
            return _error(failure.message, failure.reason, stalling=failure.stalling)
        if isinstance(failure, errors.BuildError):
            reason, persistent = failure.why.reason, failure.why.persistent
            pulling = failure.why in (errors.CHART_REFERENCE, errors.CHART_PULL)
        else:
            reason, persistent, pulling = failure.reason, failure.stalling, True
        fetch, build = (
            source_conditions.FETCH_FAILED_CONDITION,
            source_conditions.BUILD_FAILED_CONDITION,
        )
        condition, other = (fetch, build) if pulling else (build, fetch)
        # NB: as Flux does, a failure of one kind clears the other's condition.
        run.delete(other)
        run.mark(condition, "True", reason=reason, message=failure.message)
        return _error(failure.message, reason, stalling=persistent)

    async def _from_tree(self, run: _Run, artifact: meta.Artifact) -> building.Build:
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
            return building.unchanged(
                obj,
                status.observed_chart_name,
                status.artifact.revision,
                packaged=True,
                cached_values_files=status.observed_values_files,
            )
        archive = self._store.local_path(artifact.path)
        build_metadata = building.version_metadata(obj, artifact.revision)
        workdir = pathlib.Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="helmchart-"))
        try:
            chart, missing = await asyncio.to_thread(self._load_tree, archive, workdir, obj)
            for dependency in missing:
                await self._add_repository_dependency(run, chart, dependency)
            tree = await asyncio.to_thread(
                charts.read_files, workdir, list(obj.spec.values_files or []), self._limits
            )
            return await asyncio.to_thread(building.package, chart, obj, build_metadata, tree)
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
        """Fetch a repository dependency into the chart's ``charts/``."""
        namespace = run.obj.metadata.namespace or "default"
        name = str(dependency.get("name", ""))
        url = str(dependency.get("repository") or "").rstrip("/")
        version = str(dependency.get("version") or "*")
        if url.startswith("oci://"):
            try:
                data = await self._registries.dependency(namespace, url, name, version)
            except errors.HelmError as failure:
                raise errors.BuildError(
                    errors.DEPENDENCY_BUILD, f"failed to get chart '{name}': {failure.message}"
                ) from failure
        else:
            data = await self._repositories.dependency(namespace, url, name, version)
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
        ready = conditions.get(status.conditions, meta.READY)
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
        elif ready is not None and ready.status == "False" and status.artifact is not None:
            # NB: as Flux notifies, the first success after a failure is announced too.
            await self._announce(run, build, status.artifact)
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
            reason=build.reason,
            message=build.summary(),
        )
        run.ready_message = build.summary()

    async def _store_chart(self, run: _Run, build: building.Build) -> None:
        assert build.data is not None
        artifact = await helmrepository.store_artifact(
            self._store,
            run,
            sourcekit.object_key(run.obj),
            data=build.data,
            filename=f"{build.name}-{build.version}.tgz",
            revision=build.version,
            staged=build.staged,
            link=LATEST_LINK,
            failure="unable to copy Helm chart to storage",
        )
        logging.get_logger().info(build.summary(), revision=build.version)
        await self._announce(run, build, artifact)

    async def _announce(self, run: _Run, build: building.Build, artifact: meta.Artifact) -> None:
        """The ``ChartPullSucceeded``/``ChartPackageSucceeded`` event."""
        await self._recorder.emit(
            objects.dump(run.obj),
            type_=events.NORMAL,
            reason=build.reason,
            message=build.summary(),
            metadata={"revision": artifact.revision, "digest": artifact.digest},
        )


def _error(message: str, reason: str, *, stalling: bool) -> Exception:
    if stalling:
        return results.StallingError(message, reason=reason)
    return results.ReconcileError(message, reason=reason)
