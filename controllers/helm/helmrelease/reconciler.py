"""The HelmRelease reconciler: a chart and values become a Helm release, kept as wanted.

Steps (``HelmReleaseReconciler.steps``), in Flux's order:

1. **dependencies** — every ``dependsOn`` HelmRelease is ready
   (``shared.runtime.dependencies``: Ready for its generation, or its
   ``readyExpr``): ``DependencyNotReady``, re-checked after
   ``--requeue-dependency``;
2. **source** — ``spec.chart``: the owned HelmChart ``<namespace>-<name>``
   applied from the template (unchanged: no request) and the one it
   replaces deleted; then the chart's source, from the watch caches: it must
   exist (``ArtifactFailed``), be reachable (``AccessDenied`` under
   ``--no-cross-namespace-refs``; ExternalArtifact only with its feature
   gate) and be ready (``SourceNotReady``, re-checked after
   ``--requeue-dependency``);
3. **values** — ``valuesFrom`` then ``values`` (``ValuesError``);
4. **release** — the chart downloaded (digest verified, cached by digest)
   and loaded (``ArtifactFailed``, ``ChartMutateError``), the target
   cluster and identity (``shared.kube.targets``: ``RESTClientError``), a
   changed release target uninstalled first, the failure counters reset for
   a new generation, chart or values (or ``resetAt``), the attempt recorded
   (``lastAttempted*``), then the atomic release loop (``releasing``) with
   its conditions Released, TestSuccess, Remediated and Drifted.

Deleting a HelmRelease uninstalls its release and deletes its HelmChart,
unless it is suspended. Ready comes from Remediated (True fails it),
Released (False fails it) and TestSuccess (a failed test fails the run
unless ignored), as Flux's ``summarize`` derives it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import aiohttp

from controllers.helm import charts, drifting, remediation, snapshots, state, values
from controllers.helm.engine import charts as engine_charts
from controllers.helm.engine import digests, failures, manifests, postrendering, records
from controllers.helm.engine import engine as engines
from controllers.helm.engine import storage as engine_storage
from controllers.helm.helmrelease import (
    acting,
    announcing,
    caching,
    correcting,
    options,
    releasing,
    templating,
    uninstalling,
)
from shared.api import helm, meta, objects
from shared.artifacts import extracting, fetching
from shared.kube import (
    applying,
    client,
    errors,
    healthexprs,
    ignoring,
    inventory,
    references,
    resourcemanager,
    resources,
    targets,
)
from shared.runtime import (
    conditions,
    dependencies,
    events,
    informers,
    logging,
    reconciling,
    results,
)

SUMMARY = conditions.Summary(
    owned=(
        helm.REMEDIATED_CONDITION,
        helm.TEST_SUCCESS_CONDITION,
        helm.RELEASED_CONDITION,
        helm.DRIFTED_CONDITION,
    ),
    negative=frozenset({helm.REMEDIATED_CONDITION}),
    bipolar=frozenset({helm.RELEASED_CONDITION}),
    success_reason=meta.SUCCEEDED_REASON,
)
RELEASE_CONDITIONS = SUMMARY.owned
FIELD_MANAGER = "helm-controller"

SourceLookup = Callable[[str, str, str], Awaitable[dict[str, Any] | None]]
"""``(kind, namespace, name)`` → the source object from the caches, or None."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """Controller flags the reconciler needs."""

    requeue_dependency: float = 30.0
    no_cross_namespace_refs: bool = False
    default_service_account: str = ""
    insecure_kubeconfig_exec: bool = False
    insecure_kubeconfig_tls: bool = False
    default_to_retry: bool = False
    """The DefaultToRetryOnFailure gate: RetryOnFailure for actions with no strategy."""
    allow_external_artifact: bool = False
    """The ExternalArtifact gate: chartRef may name an ExternalArtifact."""
    chart_digest_tracking: bool = True
    """Off with the DisableChartDigestTracking gate: OCI chart versions keep no digest."""
    http_retry: int = fetching.RetryPolicy.retries
    artifact_max_size: int = extracting.DEFAULT_MAX_TOTAL_SIZE


@dataclasses.dataclass(eq=False, kw_only=True)
class _Run(reconciling.Run[helm.HelmRelease, helm.HelmReleaseStatus]):
    """One HelmRelease reconcile: what each step hands the next."""

    started: float = dataclasses.field(default_factory=time.monotonic)
    source: charts.SourceRef = dataclasses.field(init=False)
    artifact: meta.Artifact = dataclasses.field(init=False)
    values: dict[str, Any] = dataclasses.field(init=False)


class HelmReleaseReconciler:
    """Reconciles HelmReleases (see the module docstring)."""

    kind = helm.HelmRelease
    status_type = helm.HelmReleaseStatus
    run_type = _Run
    summary = SUMMARY

    def __init__(
        self,
        *,
        api: client.Client,
        discovery: resources.Discovery,
        recorder: events.Recorder,
        releases: informers.Informer,
        source: SourceLookup,
        charts_live: resourcemanager.LiveSource,
        live: resourcemanager.LiveSource,
        kustomize: postrendering.Kustomize | None,
        stored: caching.Cache | None = None,
        session: aiohttp.ClientSession,
        settings: Settings,
    ) -> None:
        self._api = api
        self._recorder = recorder
        self._source = source
        self._live = live
        self._kustomize = kustomize
        self._stored = caching.StoredReleases(stored) if stored is not None else None
        self._settings = settings
        self._targets = targets.Targets(
            api=api,
            discovery=discovery,
            policy=targets.Policy(
                default_service_account=settings.default_service_account,
                allow_exec=settings.insecure_kubeconfig_exec,
                allow_insecure_tls=settings.insecure_kubeconfig_tls,
            ),
            user_agent=FIELD_MANAGER,
        )
        self._templates = templating.ChartTemplates(
            manager=resourcemanager.ResourceManager(
                objects=applying.Objects(api=api, discovery=discovery),
                live=charts_live,
                field_manager=FIELD_MANAGER,
                group=helm.GROUP,
            ),
            recorder=recorder,
        )
        self._loader = charts.Loader(
            session=session,
            retry=fetching.RetryPolicy(retries=settings.http_retry),
            max_size=settings.artifact_max_size,
        )
        self._engines: dict[str, tuple[targets.Target, str, engines.Engine]] = {}
        self._dependencies = dependencies.Checker(
            api=api,
            cache=releases,
            resource=releases.resource,
            source=None,
            settings=dependencies.Settings(
                requeue_after=settings.requeue_dependency,
                no_cross_namespace_refs=settings.no_cross_namespace_refs,
            ),
        )
        self.steps: tuple[reconciling.Step[_Run], ...] = (
            reconciling.Step("dependencies", self._dependencies_step),
            reconciling.Step("source", self._source_step),
            reconciling.Step("values", self._values_step),
            reconciling.Step("release", self._release_step, owns=RELEASE_CONDITIONS),
        )

    def interval(self, obj: helm.HelmRelease) -> float:
        return meta.parse_duration(obj.spec.interval).total_seconds()

    @staticmethod
    def _key(obj: helm.HelmRelease) -> str:
        return f"{obj.metadata.namespace}/{obj.metadata.name}"

    # --- targets and engines -------------------------------------------------------------

    async def _target(self, obj: helm.HelmRelease) -> targets.Target:
        try:
            return await self._targets.get(
                namespace=obj.metadata.namespace or "default",
                name=obj.metadata.name or "",
                service_account=obj.spec.service_account_name,
                kube_config=obj.spec.kube_config,
            )
        except targets.TargetError as failed:
            if failed.stalling:
                raise results.StallingError(
                    failed.message, reason=helm.REST_CLIENT_ERROR_REASON
                ) from failed
            raise results.ReconcileError(
                failed.message, reason=helm.REST_CLIENT_ERROR_REASON
            ) from failed

    def _engine(
        self, obj: helm.HelmRelease, target: targets.Target, storage: str
    ) -> engines.Engine:
        """The engine for where ``obj`` releases, kept while its target and storage hold.

        A remote cluster has no watch caches here, so its objects are read
        with a GET each when drift or health needs them.
        """
        key = self._key(obj)
        cached = self._engines.get(key)
        if cached is not None and cached[0] is target and cached[1] == storage:
            return cached[2]
        engine = engines.Engine(
            target.api,
            engine_storage.ReleaseStore(target.api, storage),
            field_manager=FIELD_MANAGER,
            live=None if target.remote is not None else self._live,
            kustomize=self._kustomize,
            discovery=target.discovery,
        )
        self._engines[key] = (target, storage, engine)
        return engine

    # --- steps ---------------------------------------------------------------------------

    async def _dependencies_step(self, run: _Run) -> None:
        depends_on = run.obj.spec.depends_on or []
        if not depends_on:
            return
        try:
            await self._dependencies.check(objects.dump(run.obj), depends_on)
        except results.WaitingError as waiting_on:
            # NB: as Flux, a dependency not ready yet is an expected wait: an
            # Info event and an info log line, not an alert.
            notice = (
                f"dependencies do not meet ready condition ({waiting_on.message}): retrying in "
                f"{meta.format_duration(waiting_on.requeue_after)}"
            )
            logging.get_logger().info(notice)
            raise results.WaitingError(
                waiting_on.message,
                reason=waiting_on.reason,
                requeue_after=waiting_on.requeue_after,
                notice=waiting_on.message,
            ) from waiting_on

    def _allowed(self, obj: helm.HelmRelease, ref: charts.SourceRef) -> None:
        if self._settings.no_cross_namespace_refs and ref.namespace != obj.metadata.namespace:
            raise results.StallingError(
                f"cannot access {ref}: cross-namespace references are not allowed",
                reason=meta.ACCESS_DENIED_REASON,
            )
        if ref.kind == "ExternalArtifact" and not self._settings.allow_external_artifact:
            raise results.StallingError(
                f"can't access '{ref}', ExternalArtifact feature gate is disabled",
                reason=meta.ACCESS_DENIED_REASON,
            )

    async def _source_step(self, run: _Run) -> None:
        obj = run.obj
        ref = run.source = charts.source_of(obj)
        self._allowed(obj, ref)
        await self._templates.sync(obj, run.status)
        found = await self._source(ref.kind, ref.namespace, ref.name)
        if found is None:
            raise results.WaitingError(
                f"could not get Source object: {ref.kind} '{ref.namespace}/{ref.name}' not found",
                reason=meta.ARTIFACT_FAILED_REASON,
                requeue_after=self._settings.requeue_dependency,
            )
        why = charts.not_ready(ref, found)
        if why is not None:
            logging.get_logger().info(why)
            raise results.WaitingError(
                why,
                reason=helm.SOURCE_NOT_READY_REASON,
                requeue_after=self._settings.requeue_dependency,
                notice=why,
            )
        run.artifact = meta.Artifact.model_validate(found["status"]["artifact"])

    async def _values_step(self, run: _Run) -> None:
        obj = run.obj
        namespace = obj.metadata.namespace or "default"

        async def fetch(kind: str, name: str) -> Mapping[str, Any] | None:
            try:
                return await references.get(self._api, kind, namespace, name)  # type: ignore[arg-type]
            except references.ReferenceNotFoundError:
                return None

        try:
            run.values = await values.compose(
                obj.spec.values_from or (), obj.spec.values, namespace=namespace, fetch=fetch
            )
        except (values.ValuesError, errors.KubeError) as failed:
            raise results.ReconcileError(str(failed), reason=helm.VALUES_ERROR_REASON) from failed

    async def _load(self, run: _Run) -> tuple[Any, str | None]:
        """The chart (versioned with the source digest where Flux does) and that digest."""
        try:
            chart = await self._loader.load(run.artifact)
        except charts.ChartError as failed:
            if failed.missing:
                raise results.WaitingError(
                    "Source not ready: artifact not found. Retrying in "
                    f"{meta.format_duration(self._settings.requeue_dependency)}",
                    reason=meta.ARTIFACT_FAILED_REASON,
                    requeue_after=self._settings.requeue_dependency,
                ) from failed
            raise results.ReconcileError(
                failed.message, reason=meta.ARTIFACT_FAILED_REASON
            ) from failed
        try:
            version, oci_digest = charts.versioned(chart.version, run.source, run.artifact.revision)
        except charts.ChartError as failed:
            chart.close()
            raise results.ReconcileError(
                failed.message, reason=helm.CHART_MUTATE_ERROR_REASON
            ) from failed
        if version != chart.version and self._settings.chart_digest_tracking:
            chart.close()
            chart = await self._loader.load(run.artifact, version=version)
        return chart, oci_digest

    async def _release_step(self, run: _Run) -> None:
        chart, oci_digest = await self._load(run)
        try:
            await self._release(run, chart, oci_digest)
        finally:
            await asyncio.to_thread(chart.close)

    async def _release(self, run: _Run, chart: Any, oci_digest: str | None) -> None:
        obj, status = run.obj, run.status
        try:
            options.health_readers(obj)  # NB: the requests compile them again, from the cache
        except healthexprs.InvalidExpressionError as invalid:
            raise results.StallingError(
                str(invalid), reason=meta.INVALID_CEL_EXPRESSION_REASON
            ) from invalid
        run.revision = chart.version
        config_digest = digests.values_digest(run.values)
        run.event_metadata = announcing.event_metadata(
            chart.version, config_digest, app_version=str(chart.metadata.get("appVersion") or ""),
            oci_digest=oci_digest or "",
        )  # fmt: skip
        target = await self._target(obj)
        if uninstalling.target_changed(obj, status, chart.name):
            await uninstalling.retarget(
                obj, status, self._engine(obj, target, status.storage_namespace or "")
            )
        storage = options.storage_namespace(obj)
        engine = self._engine(obj, target, storage)
        status.storage_namespace = storage
        if options.must_reset_failures(obj, chart.version, config_digest):
            remediation.clear_failures(status)
        status.last_attempted_generation = obj.metadata.generation
        status.last_attempted_revision = chart.version
        status.last_attempted_revision_digest = oci_digest
        status.last_attempted_config_digest = config_digest
        status.last_attempted_values_checksum = None
        status.last_release_revision = None
        force = options.handle_request(
            obj, meta.FORCE_REQUEST_ANNOTATION, status.last_handled_force_at
        )
        if force is not None:
            status.last_handled_force_at = force
        req = acting.Request(
            obj=obj,
            status=status,
            chart=chart,
            values=run.values,
            config_digest=config_digest,
            oci_digest=oci_digest,
            release_name=options.release_name(obj),
            namespace=options.release_namespace(obj),
            actions=engine,
            store=engine.store,
            recorder=self._recorder,
            default_to_retry=self._settings.default_to_retry,
        )
        desired = state.Desired(
            chart_name=chart.name,
            chart_version=chart.version,
            config_digest=config_digest,
            post_renderers_digest=options.spec_digest(obj.spec.post_renderers),
            common_metadata_digest=options.spec_digest(obj.spec.common_metadata),
        )
        rules = ignoring.Rules(
            (obj.spec.drift_detection.ignore if obj.spec.drift_detection else None) or ()
        )

        async def drift(record: records.ReleaseRecord) -> Sequence[str]:
            desired_objects = await engine.objects_of(record)
            return await drifting.detect(
                desired_objects, live=engine.cluster.manager.live, rules=rules
            )

        async def cached() -> list[records.ReleaseRecord] | None:
            if self._stored is None:
                return None
            return await self._stored.history(
                storage, req.release_name, recorded=snapshots.latest(status.history)
            )

        async def correct(record: records.ReleaseRecord) -> None:
            await correcting.correct(req, engine, record, rules)

        outcome = await releasing.run(
            releasing.Loop(
                req=req,
                run=run,
                desired=desired,
                drift=drift,
                correct_drift=correct,
                force=force is not None,
                cached=cached if target.remote is None else None,
            )
        )
        if outcome.acted or status.inventory is None:
            await self._inventory(status, engine, outcome.stored, chart)

    @staticmethod
    async def _inventory(
        status: helm.HelmReleaseStatus,
        engine: engines.Engine,
        stored: Sequence[records.ReleaseRecord],
        chart: Any,
    ) -> None:
        """``status.inventory``: the objects of the current revision (hooks excluded),
        then the CRDs of the chart's (and its sub-charts') ``crds/``, as Flux lists them.

        Recorded when an action ran (or none is recorded yet), from the
        revisions the loop last read, so a reconcile with nothing to do
        costs no request for it.
        """
        current = snapshots.latest(status.history)
        record = next((r for r in stored if current and r.version == current.version), None)
        if record is None or record.status == records.Status.UNINSTALLED:
            status.inventory = None
            return
        try:
            found = await engine.objects_of(record)
            crds = await asyncio.to_thread(engine_charts.crds, chart)
            found += manifests.crd_objects(crds)
        except failures.EngineError as failed:
            logging.get_logger().error("failed to build inventory", error=failed.message)
            return
        status.inventory = inventory.to_status(inventory.Ref.of(obj) for obj in found)

    # --- deletion ------------------------------------------------------------------------

    async def finalize(self, obj: helm.HelmRelease) -> None:
        """Uninstall the release and delete the owned HelmChart (not when suspended)."""
        key = self._key(obj)
        status = obj.status or helm.HelmReleaseStatus()
        if not obj.spec.suspend and status.storage_namespace:
            try:
                target = await self._target(obj)
            except results.ReconcileError as failed:
                logging.get_logger().error(
                    "skipping Helm release uninstallation", error=failed.message
                )
            else:
                await uninstalling.uninstall_deleted(
                    obj, status, self._engine(obj, target, status.storage_namespace)
                )
        if not obj.spec.suspend:
            await self._templates.delete(obj, status)
        self._engines.pop(key, None)
        await self._targets.forget(
            namespace=obj.metadata.namespace or "default", name=obj.metadata.name or ""
        )
