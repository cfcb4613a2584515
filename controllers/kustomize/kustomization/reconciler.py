"""The Kustomization reconciler: a source artifact becomes the state of the cluster.

Steps (``KustomizationReconciler.steps``), in Flux's order; each failure
names the Ready reason Flux uses and is retried after ``spec.retryInterval``
(``spec.interval`` when unset):

1. **source** — the source must exist and have an artifact
   (``ArtifactFailed``); a revision not attempted before shows progress;
2. **dependencies** — every ``dependsOn`` Kustomization must be ready
   (``shared.runtime.dependencies``: Ready for its generation or its
   ``readyExpr``, and the same revision when it shares the source):
   ``DependencyNotReady``, re-checked after ``--requeue-dependency``;
3. **build** — the artifact is downloaded, its digest verified and safely
   extracted (``ArtifactFailed``); kustomize with the Kustomization's
   overlays, SOPS decryption, post-build substitution (``BuildFailed``);
4. **apply** — on the target (``shared.kube.targets``: impersonation, a
   remote cluster), staged server-side apply through the resource manager,
   which knows the live state from watch caches: unchanged objects cost
   nothing, drift is restored and reported (``ReconciliationFailed``); then
   prune the objects that left the inventory (``PruneFailed``). Before the
   first write: the finalizer (added here, not when the Kustomization is
   first seen) and the inventory record ahead of any write (``records``);
5. **health** — with ``wait`` every applied object, else ``healthChecks``;
   ``healthCheckExprs`` extend kstatus (``HealthCheckFailed``; the Healthy
   condition, the only one this reconciler owns). The wait shows progress;
6. **applied** — ``lastAppliedRevision`` and the history entry.

Status follows Flux: ``inventory``, ``lastAttemptedRevision``,
``lastAppliedRevision``, ``lastAppliedOriginRevision``, ``history``. An
event lists what was created, configured (with the drifted fields) and
deleted, with the revision.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp

from controllers.kustomize import building, decrypting, substituting
from controllers.kustomize.kustomization import announcing, health, history, records
from shared.api import kustomize, meta, objects
from shared.artifacts import errors as artifact_errors
from shared.artifacts import extracting, fetching
from shared.kube import (
    applying,
    client,
    errors,
    ignoring,
    inventory,
    references,
    resourcemanager,
    resources,
    takeover,
    targets,
    waiting,
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
    owned=(meta.HEALTHY,),
    negative=frozenset(),
    success_reason=meta.RECONCILIATION_SUCCEEDED_REASON,
)
ORIGIN_REVISION_KEY = history.ORIGIN_REVISION_KEY
RENDER_CACHE_SIZE = 64

SourceLookup = Callable[[str, str, str], Awaitable[dict[str, Any] | None]]
"""``(kind, namespace, name)`` → the source object from the caches, or None."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """Controller flags the reconciler needs."""

    requeue_dependency: float = 30.0
    no_cross_namespace_refs: bool = False
    no_remote_bases: bool = False
    default_service_account: str = ""
    default_decryption_service_account: str = ""
    sops_age_secret: str = ""
    """A Secret in ``runtime_namespace`` with the fallback age keys (``--sops-age-secret``)."""
    runtime_namespace: str = ""
    kubectl: str = "kubectl"
    concurrent_ssa: int = 4
    artifact_max_size: int = extracting.DEFAULT_MAX_TOTAL_SIZE
    insecure_kubeconfig_exec: bool = False
    insecure_kubeconfig_tls: bool = False
    override_managers: tuple[str, ...] = ()
    """``--override-manager``: taken over besides Flux's defaults (``takeover``)."""
    custom_stage_kinds: frozenset[inventory.GroupKind] = frozenset()
    """``--custom-apply-stage-kinds``."""
    http_retry: int = fetching.RetryPolicy.retries
    """``--http-retry``: retries of a failed artifact download (Flux's default 9)."""
    strict_substitutions: bool = False
    """The StrictPostBuildSubstitutions gate: an unset variable without a default fails."""
    additive_cel_dependencies: bool = False
    """The AdditiveCELDependencyCheck gate: a ``readyExpr`` adds to the built-in checks."""
    cancel_health_checks: bool = False
    """The CancelHealthCheckOnNewRevision gate: a new request ends a health check wait."""


@dataclasses.dataclass(eq=False, kw_only=True)
class _Run(reconciling.Run[kustomize.Kustomization, kustomize.KustomizationStatus]):
    """One Kustomization reconcile: what each step hands the next."""

    started: float = dataclasses.field(default_factory=time.monotonic)
    artifact: meta.Artifact = dataclasses.field(init=False)
    """Set by the source step."""
    built: building.Build = dataclasses.field(init=False)
    """Set by the build step."""
    manager: resourcemanager.ResourceManager = dataclasses.field(init=False)
    applied: list[inventory.Ref] = dataclasses.field(init=False)
    """Set by the apply step."""


class KustomizationReconciler:
    """Reconciles Kustomizations (see the module docstring)."""

    kind = kustomize.Kustomization
    status_type = kustomize.KustomizationStatus
    run_type = _Run
    summary = SUMMARY

    def __init__(
        self,
        *,
        api: client.Client,
        discovery: resources.Discovery,
        recorder: events.Recorder,
        kustomizations: informers.Informer,
        source: SourceLookup,
        live: resourcemanager.LiveSource,
        settings: Settings,
        session: aiohttp.ClientSession,
    ) -> None:
        self._api = api
        self._discovery = discovery
        self._recorder = recorder
        self._kustomizations = kustomizations
        self._source = source
        self._live = live
        self._settings = settings
        self._session = session
        self._targets = targets.Targets(
            api=api,
            discovery=discovery,
            policy=targets.Policy(
                default_service_account=settings.default_service_account,
                allow_exec=settings.insecure_kubeconfig_exec,
                allow_insecure_tls=settings.insecure_kubeconfig_tls,
            ),
            user_agent="kustomize-controller",
        )
        self._managers: dict[str, tuple[targets.Target, resourcemanager.ResourceManager]] = {}
        self._override_managers = takeover.overridden(
            resourcemanager.FIELD_MANAGER, settings.override_managers
        )
        self._dependencies = dependencies.Checker(
            api=api,
            cache=kustomizations,
            resource=kustomizations.resource,
            source=dependencies.Source(key_of=_source_key, applied_revision_of=_applied_revision),
            settings=dependencies.Settings(
                requeue_after=settings.requeue_dependency,
                no_cross_namespace_refs=settings.no_cross_namespace_refs,
                additive_cel=settings.additive_cel_dependencies,
            ),
        )
        self._renders: collections.OrderedDict[str, str] = collections.OrderedDict()
        self._repeats: dict[str, history.Repeats] = {}
        self._records = records.Records()
        self.steps: tuple[reconciling.Step[_Run], ...] = (
            reconciling.Step("source", self._source_step),
            reconciling.Step("dependencies", self._dependencies_step),
            reconciling.Step("build", self._build_step),
            reconciling.Step("apply", self._apply_step),
            reconciling.Step("health", self._health_step, owns=(meta.HEALTHY,)),
            reconciling.Step("applied", self._applied_step),
        )

    # --- helpers -------------------------------------------------------------------------

    def interval(self, obj: kustomize.Kustomization) -> float:
        return meta.parse_duration(obj.spec.interval).total_seconds()

    def _retry(self, obj: kustomize.Kustomization) -> float:
        return meta.parse_duration(obj.spec.retry_interval or obj.spec.interval).total_seconds()

    def _failure(
        self, obj: kustomize.Kustomization, reason: str, message: str
    ) -> results.WaitingError:
        return results.WaitingError(message, reason=reason, requeue_after=self._retry(obj))

    async def _manager(self, obj: kustomize.Kustomization) -> resourcemanager.ResourceManager:
        """The resource manager for where ``obj`` applies (``shared.kube.targets``).

        A remote cluster has no watch caches here, so objects there are
        applied every reconcile (one write each) and read with a GET for health.
        """
        namespace = obj.metadata.namespace or "default"
        try:
            target = await self._targets.get(
                namespace=namespace,
                name=obj.metadata.name or "",
                service_account=obj.spec.service_account_name,
                kube_config=obj.spec.kube_config,
            )
        except targets.TargetError as failed:
            if failed.stalling:
                raise results.StallingError(
                    failed.message, reason=meta.RECONCILIATION_FAILED_REASON
                ) from failed
            raise self._failure(obj, meta.RECONCILIATION_FAILED_REASON, failed.message) from failed
        key = f"{namespace}/{obj.metadata.name}"
        cached = self._managers.get(key)
        if cached is not None and cached[0] is target:
            return cached[1]
        manager = resourcemanager.ResourceManager(
            objects=applying.Objects(api=target.api, discovery=target.discovery),
            live=None if target.remote is not None else self._live,
            concurrency=self._settings.concurrent_ssa,
            override_managers=self._override_managers,
            custom_stage_kinds=self._settings.custom_stage_kinds,
        )
        self._managers[key] = (target, manager)
        return manager

    @staticmethod
    def _owner(obj: kustomize.Kustomization) -> resourcemanager.Owner:
        return resourcemanager.Owner(
            name=obj.metadata.name or "", namespace=obj.metadata.namespace or "default"
        )

    # --- steps ---------------------------------------------------------------------------

    async def _artifact(self, obj: kustomize.Kustomization) -> meta.Artifact:
        ref = obj.spec.source_ref
        namespace = ref.namespace or obj.metadata.namespace or "default"
        if self._settings.no_cross_namespace_refs and namespace != obj.metadata.namespace:
            raise results.StallingError(
                f"cannot access {ref.kind}/{namespace}/{ref.name}: "
                "cross-namespace references are not allowed",
                reason=meta.ACCESS_DENIED_REASON,
            )
        found = await self._source(ref.kind, namespace, ref.name)
        if found is None:
            raise self._failure(
                obj,
                meta.ARTIFACT_FAILED_REASON,
                f"Source '{ref.kind}/{namespace}/{ref.name}' not found",
            )
        raw = (found.get("status") or {}).get("artifact")
        if not raw:
            raise self._failure(
                obj,
                meta.ARTIFACT_FAILED_REASON,
                f"Source '{ref.kind}/{namespace}/{ref.name}' is not ready, artifact not found",
            )
        return meta.Artifact.model_validate(raw)

    async def _variables(self, obj: kustomize.Kustomization) -> dict[str, str]:
        namespace = obj.metadata.namespace or "default"

        async def fetch(reference: kustomize.SubstituteReference) -> Mapping[str, Any] | None:
            try:
                return await references.get(self._api, reference.kind, namespace, reference.name)
            except references.ReferenceNotFoundError:
                return None

        return await substituting.collect_variables(obj.spec.post_build, fetch=fetch)

    async def _keys(self, obj: kustomize.Kustomization) -> decrypting.Keys | None:
        """The SOPS keys of ``obj``: None without ``spec.decryption``.

        From ``decryption.secretRef`` (age and OpenPGP keys); without one,
        the age keys of ``--sops-age-secret`` (Flux's rule: only its
        ``*.agekey`` entries). The decryption service account (the
        Kustomization's or ``--default-decryption-service-account``) is the
        identity for cloud KMS, which is not supported: it is named in the
        failure of a document only such a key can open.
        """
        decryption = obj.spec.decryption
        if decryption is None:
            return None
        namespace = obj.metadata.namespace or "default"
        service_account = (
            decryption.service_account_name or self._settings.default_decryption_service_account
        )
        if decryption.secret_ref is not None:
            found = await self._decryption_secret(obj, namespace, decryption.secret_ref.name)
            keys = found if found is not None else decrypting.Keys()
        elif self._settings.sops_age_secret and self._settings.runtime_namespace:
            found = await self._decryption_secret(
                obj, self._settings.runtime_namespace, self._settings.sops_age_secret, age_only=True
            )
            keys = decrypting.Keys(age=found.age) if found is not None else decrypting.Keys()
        else:
            keys = decrypting.Keys()
        return dataclasses.replace(keys, service_account=service_account or "")

    async def _decryption_secret(
        self, obj: kustomize.Kustomization, namespace: str, name: str, *, age_only: bool = False
    ) -> decrypting.Keys | None:
        what = "SOPS age decryption" if age_only else "decryption"
        try:
            secret = await references.get(self._api, "Secret", namespace, name)
        except references.ReferenceNotFoundError as missing:
            raise self._failure(
                obj, meta.BUILD_FAILED_REASON, f"{what} {missing.message}"
            ) from missing
        if age_only:
            data = secret.get("data") or {}
            secret = {
                **secret,
                "data": {k: v for k, v in data.items() if k.endswith(decrypting.AGE_KEY_SUFFIX)},
            }
        try:
            return decrypting.keys_from_secret(secret)
        except decrypting.DecryptionError as invalid:
            raise self._failure(obj, meta.BUILD_FAILED_REASON, str(invalid)) from invalid

    async def _build(
        self,
        obj: kustomize.Kustomization,
        status: kustomize.KustomizationStatus,
        artifact: meta.Artifact,
    ) -> building.Build:
        try:
            keys = await self._keys(obj)
            output = await self._render(obj, artifact, keys=keys)
            variables = await self._variables(obj) if obj.spec.post_build else {}
            built = await asyncio.to_thread(
                building.post_build,
                output,
                obj.spec,
                variables=variables,
                keys=keys,
                strict=self._settings.strict_substitutions,
            )
        except building.PathNotFoundError as missing:
            raise self._failure(obj, meta.ARTIFACT_FAILED_REASON, str(missing)) from missing
        except artifact_errors.ArtifactError as failed:
            raise self._failure(
                obj,
                meta.ARTIFACT_FAILED_REASON,
                f"failed to download artifact from {artifact.url}: {failed}",
            ) from failed
        except (
            building.BuildError,
            substituting.SubstitutionError,
            decrypting.DecryptionError,
        ) as failed:
            status.last_attempted_revision = artifact.revision
            raise self._failure(obj, meta.BUILD_FAILED_REASON, str(failed)) from failed
        except results.WaitingError:
            # NB: as in Flux, a revision counts as attempted once its artifact
            # is in hand: a missing decryption Secret records it too.
            status.last_attempted_revision = artifact.revision
            raise
        status.last_attempted_revision = artifact.revision
        return built

    async def _render(
        self,
        obj: kustomize.Kustomization,
        artifact: meta.Artifact,
        *,
        keys: decrypting.Keys | None,
    ) -> str:
        """kustomize's output, shared by Kustomizations that build the same thing.

        The cache is keyed by the artifact digest and the build-shaping spec
        fields; a hit needs neither the download nor a kustomize run. Builds
        with decryption keys are never cached (their inputs include secrets).
        """
        key = None if keys is not None else building.render_key(artifact.digest, obj.spec)
        if key is not None and key in self._renders:
            self._renders.move_to_end(key)
            return self._renders[key]
        options = building.Options(
            kubectl=self._settings.kubectl,
            allow_remote_bases=not self._settings.no_remote_bases,
        )
        limits = extracting.Limits(max_total_size=self._settings.artifact_max_size)
        retry = fetching.RetryPolicy(retries=self._settings.http_retry)
        async with fetching.fetched(
            self._session, artifact.url, digest=artifact.digest, limits=limits, retry=retry
        ) as root:
            output = await building.render(root, obj.spec, options=options, keys=keys)
        if key is not None:
            self._renders[key] = output
            while len(self._renders) > RENDER_CACHE_SIZE:
                self._renders.popitem(last=False)
        return output

    # --- the reconcile -------------------------------------------------------------------

    async def _source_step(self, run: _Run) -> None:
        run.artifact = await self._artifact(run.obj)
        run.revision = run.artifact.revision
        run.event_metadata = announcing.artifact_metadata(run.artifact)
        if run.revision != run.status.last_attempted_revision:
            # NB: only a new revision shows progress; a periodic run of the
            # same one must stay free of writes however long it takes.
            timeout = meta.parse_duration(run.obj.spec.timeout or run.obj.spec.interval)
            run.progress(
                f"Fetching manifests for revision {run.revision} "
                f"with a timeout of {meta.format_duration(timeout.total_seconds())}",
                restart=True,
            )

    async def _dependencies_step(self, run: _Run) -> None:
        try:
            await self._dependencies.check(
                objects.dump(run.obj), run.obj.spec.depends_on or [], revision=run.artifact.revision
            )
        except results.WaitingError as waiting_on:
            # NB: Flux announces a dependency not ready yet as an Info event
            # (an expected wait, not an alert) and logs it at info level.
            notice = (
                "Dependencies do not meet ready condition, retrying in "
                f"{meta.format_duration(waiting_on.requeue_after)}"
            )
            logging.get_logger().info(notice, reason=waiting_on.reason, error=waiting_on.message)
            raise results.WaitingError(
                waiting_on.message,
                reason=waiting_on.reason,
                requeue_after=waiting_on.requeue_after,
                notice=notice,
            ) from waiting_on

    async def _build_step(self, run: _Run) -> None:
        run.built = await self._build(run.obj, run.status, run.artifact)

    async def _apply_step(self, run: _Run) -> None:
        obj, status, artifact, built = run.obj, run.status, run.artifact, run.built
        manager = run.manager = await self._manager(obj)
        owner = self._owner(obj)
        for manifest in built.objects:
            if decrypting.is_encrypted_secret(manifest):
                # NB: Flux's guard: an encrypted Secret is never applied as it is.
                ref = inventory.Ref.of(manifest)
                raise self._failure(
                    obj,
                    meta.RECONCILIATION_FAILED_REASON,
                    f"{ref.kind}/{ref.namespace}/{ref.name} is SOPS encrypted, configuring "
                    "decryption is required for this secret to be reconciled",
                )
        old = await self._records.before_apply(
            run,
            manager,
            owner=owner,
            desired=built.objects,
            fail=lambda message: self._failure(obj, meta.RECONCILIATION_FAILED_REASON, message),
        )
        try:
            change_set = await manager.apply_all(
                built.objects,
                owner=owner,
                force=obj.spec.force,
                ignore=ignoring.Rules(obj.spec.ignore or ()),
            )
        except (
            resourcemanager.ApplyError,
            errors.KubeError,
            waiting.WaitError,
            ignoring.RuleError,
        ) as failed:
            self._record(run, meta.RECONCILIATION_FAILED_REASON)
            raise self._failure(obj, meta.RECONCILIATION_FAILED_REASON, str(failed)) from failed
        applied = run.applied = change_set.refs()
        status.inventory = inventory.to_status(applied)
        await self._announce(obj, change_set, artifact, log="server-side apply completed")
        if obj.spec.prune:
            stale = inventory.stale(old, applied)
            try:
                pruned = await manager.prune(stale, owner=owner)
            except errors.KubeError as failed:
                status.inventory = inventory.to_status(inventory.merge(applied, stale))
                self._record(run, meta.PRUNE_FAILED_REASON)
                raise self._failure(obj, meta.PRUNE_FAILED_REASON, str(failed)) from failed
            await self._announce(obj, pruned, artifact, log="garbage collection completed")

    async def _health_step(self, run: _Run) -> None:
        before = conditions.get(run.status.conditions, meta.HEALTHY)
        try:
            passed = await health.check(
                run,
                manager=run.manager,
                applied=run.applied,
                revision=run.artifact.revision,
                retry_after=self._retry(run.obj),
                cancel_on_request=self._settings.cancel_health_checks,
            )
        except health.CanceledError:
            # NB: as Flux, an info line and no history entry: the next run decides.
            logging.get_logger().info(
                "New reconciliation triggered, canceling health checks",
                trigger=run.interrupt.trigger,
            )
            raise
        except results.WaitingError:
            self._record(run, meta.HEALTH_CHECK_FAILED_REASON)
            raise
        if passed is not None and (before is None or before.status != "True"):
            # NB: as in Flux, only a recovery (or a first pass) is announced.
            await self._recorder.emit(
                objects.dump(run.obj),
                type_=events.NORMAL,
                reason=meta.PROGRESSING_REASON,
                message=passed,
                metadata=run.event_metadata,
            )

    async def _applied_step(self, run: _Run) -> None:
        artifact = run.artifact
        run.status.last_applied_revision = artifact.revision
        run.status.last_applied_origin_revision = (artifact.metadata or {}).get(ORIGIN_REVISION_KEY)
        self._record(run, meta.RECONCILIATION_SUCCEEDED_REASON)
        run.ready_message = f"Applied revision: {artifact.revision}"
        message = announcing.finished_message(
            time.monotonic() - run.started, self.interval(run.obj)
        )
        logging.get_logger().info(message, revision=artifact.revision)
        await self._recorder.emit(
            objects.dump(run.obj),
            type_=events.NORMAL,
            reason=meta.RECONCILIATION_SUCCEEDED_REASON,
            message=message,
            metadata=announcing.finished_metadata(artifact),
        )

    def _record(self, run: _Run, reason: str) -> None:
        """Add this run to ``status.history`` (``history.record``).

        A repeat of the newest outcome is counted in memory and written only
        with a status write that happens anyway (``history``: the cost rule).
        """
        key = f"{run.obj.metadata.namespace}/{run.obj.metadata.name}"
        repeats = history.record(
            run.status,
            digest=run.built.digest,
            artifact=run.artifact,
            reason=reason,
            duration=meta.format_duration(time.monotonic() - run.started),
            now=conditions.now(),
            repeats=self._repeats.get(key),
        )
        if repeats is None:
            self._repeats.pop(key, None)
            return
        self._repeats[key] = repeats
        run.riders.append(repeats.fold)

    async def _announce(
        self,
        obj: kustomize.Kustomization,
        change_set: resourcemanager.ChangeSet,
        artifact: meta.Artifact,
        *,
        log: str,
    ) -> None:
        """A change-set event (``announcing``): reason Progressing, the revision and the commit."""
        lines = announcing.change_lines(change_set)
        if not lines:
            return
        logging.get_logger().info(log, changes=lines, revision=artifact.revision)
        await self._recorder.emit(
            objects.dump(obj),
            type_=events.NORMAL,
            reason=meta.PROGRESSING_REASON,
            message="\n".join(lines),
            metadata=announcing.change_metadata(artifact),
        )

    async def _announce_deletion(
        self, obj: kustomize.Kustomization, pruned: resourcemanager.ChangeSet
    ) -> None:
        """What deleting the Kustomization pruned, as Flux announces it.

        An Info event with the last applied revision; its reason is the Ready
        reason the Kustomization had (Flux's rule), ``info`` without one.
        """
        lines = announcing.change_lines(pruned)
        if not lines:
            return
        status = obj.status or kustomize.KustomizationStatus()
        ready = conditions.get(status.conditions, meta.READY)
        logging.get_logger().info("garbage collection completed", changes=lines)
        await self._recorder.emit(
            objects.dump(obj),
            type_=events.NORMAL,
            reason=ready.reason if ready is not None else "info",
            message="\n".join(lines),
            metadata=announcing.revision_metadata(
                status.last_applied_revision, status.last_applied_origin_revision
            ),
        )

    async def finalize(self, obj: kustomize.Kustomization) -> None:
        """Delete what the Kustomization applied, as its ``deletionPolicy`` says."""
        policy = obj.spec.deletion_policy or "MirrorPrune"
        status = obj.status
        # NB: the finalizer without an inventory: a first apply was cut short (``records``).
        recorded = status.inventory if status is not None else None
        if (recorded is None or recorded.entries) and deletes_applied_objects(obj.spec):
            # NB: only now is the target needed (for a remote cluster: its
            # kubeconfig Secret and a connection).
            manager = await self._manager(obj)
            refs = await self._records.owned(obj, manager, owner=self._owner(obj))
            pruned = await manager.prune(refs, owner=self._owner(obj))
            await self._announce_deletion(obj, pruned)
            if policy == "WaitForTermination":
                timeout = meta.parse_duration(obj.spec.timeout or obj.spec.interval)
                with contextlib.suppress(waiting.WaitError):
                    await manager.wait_for_termination(
                        refs, interval=2.0, within=timeout.total_seconds()
                    )
        namespace = obj.metadata.namespace or "default"
        self._managers.pop(f"{namespace}/{obj.metadata.name}", None)
        self._repeats.pop(f"{namespace}/{obj.metadata.name}", None)
        self._records.forget(obj)
        await self._targets.forget(namespace=namespace, name=obj.metadata.name or "")


def _source_key(obj: Mapping[str, Any]) -> dependencies.SourceKey | None:
    """The source a Kustomization (as JSON) applies from."""
    ref = (obj.get("spec") or {}).get("sourceRef") or {}
    namespace = ref.get("namespace") or obj["metadata"].get("namespace") or "default"
    return (ref.get("kind", ""), namespace, ref.get("name", ""))


def _applied_revision(obj: Mapping[str, Any]) -> str | None:
    revision: str | None = (obj.get("status") or {}).get("lastAppliedRevision")
    return revision


def deletes_applied_objects(spec: kustomize.KustomizationSpec) -> bool:
    """Whether deleting the Kustomization deletes what it applied (``spec.deletionPolicy``).

    ``MirrorPrune`` (the default) follows ``spec.prune``; ``Delete`` and
    ``WaitForTermination`` always delete; ``Orphan`` never does. A suspended
    Kustomization deletes nothing.
    """
    if spec.suspend:
        return False
    policy = spec.deletion_policy or "MirrorPrune"
    return policy in ("Delete", "WaitForTermination") or (
        policy == "MirrorPrune" and bool(spec.prune)
    )
