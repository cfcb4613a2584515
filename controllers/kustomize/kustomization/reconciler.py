"""The Kustomization reconciler: a source artifact becomes the state of the cluster.

Steps, in Flux's order; each failure names the Ready reason Flux uses and is
retried after ``spec.retryInterval`` (``spec.interval`` when unset):

1. **dependencies** — every ``dependsOn`` Kustomization must be Ready for its
   current generation (or satisfy its ``readyExpr``): ``DependencyNotReady``,
   re-checked after ``--requeue-dependency``;
2. **artifact** — the source must exist and have an artifact; it is
   downloaded, its digest verified and it is safely extracted
   (``ArtifactFailed``);
3. **build** — kustomize with the Kustomization's overlays, SOPS decryption,
   post-build substitution (``BuildFailed``);
4. **apply** — staged server-side apply through the resource manager, which
   knows the live state from watch caches: unchanged objects cost nothing,
   drift is restored and reported (``ReconciliationFailed``);
5. **prune** — objects that left the inventory (``PruneFailed``);
6. **health** — with ``wait`` every applied object, else ``healthChecks``;
   ``healthCheckExprs`` extend kstatus (``HealthCheckFailed``; the Healthy
   condition).

Status follows Flux: ``inventory``, ``lastAttemptedRevision``,
``lastAppliedRevision``, ``lastAppliedOriginRevision``, ``history``. An
event lists what was created, configured (with the drifted fields) and
deleted, with the revision.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import dataclasses
import hashlib
import pathlib
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import celpy
import celpy.adapter
import celpy.celparser
import celpy.celtypes
import celpy.evaluation

from controllers.kustomize import building, decrypting, substituting
from shared.api import kustomize, meta, objects, source, validation
from shared.artifacts import errors as artifact_errors
from shared.artifacts import fetching
from shared.kube import (
    applying,
    client,
    errors,
    healthexprs,
    inventory,
    resourcemanager,
    resources,
    waiting,
)
from shared.runtime import conditions, events, informers, logging, reconciling, results

SUMMARY = conditions.Summary(
    owned=(), negative=frozenset(), success_reason=meta.RECONCILIATION_SUCCEEDED_REASON
)
HEALTHY_SUCCEEDED_REASON = meta.SUCCEEDED_REASON
ORIGIN_REVISION_KEY = "org.opencontainers.image.revision"
HISTORY_LIMIT = 5
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
    kubectl: str = "kubectl"
    concurrent_ssa: int = 4


def _go_duration(seconds: float) -> str:
    """A Go-style duration string for status (``1.5s``, ``2m3s``)."""
    minutes, rest = divmod(seconds, 60)
    if minutes:
        return f"{int(minutes)}m{rest:.3g}s"
    return f"{seconds:.3g}s"


@dataclasses.dataclass
class _Target:
    """The cluster a Kustomization applies to, and how."""

    identity: tuple[str, str]
    """(service account, kubeconfig digest): a change means a new target."""
    manager: resourcemanager.ResourceManager
    remote: client.Client | None = None

    async def close(self) -> None:
        if self.remote is not None:
            await self.remote.close()


class KustomizationReconciler:
    """Reconciles Kustomizations (see the module docstring)."""

    kind = kustomize.Kustomization
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
        self._targets: dict[tuple[str, str], _Target] = {}
        self._renders: collections.OrderedDict[str, str] = collections.OrderedDict()

    # --- helpers -------------------------------------------------------------------------

    def interval(self, obj: kustomize.Kustomization) -> float:
        return meta.parse_duration(obj.spec.interval).total_seconds()

    def _retry(self, obj: kustomize.Kustomization) -> float:
        return meta.parse_duration(obj.spec.retry_interval or obj.spec.interval).total_seconds()

    def _failure(
        self, obj: kustomize.Kustomization, reason: str, message: str
    ) -> results.WaitingError:
        return results.WaitingError(message, reason=reason, requeue_after=self._retry(obj))

    async def _target(self, obj: kustomize.Kustomization) -> _Target:
        """Where one Kustomization applies: this cluster or ``spec.kubeConfig``'s, as whom.

        Cached per Kustomization and rebuilt when the service account or the
        kubeconfig changes. A remote cluster has no watch caches here, so
        objects there are applied every reconcile (one write each) and read
        with a GET for health.
        """
        namespace = obj.metadata.namespace or "default"
        account = obj.spec.service_account_name or self._settings.default_service_account
        kubeconfig = await self._kubeconfig(obj)
        identity = (account, hashlib.sha256(kubeconfig.encode()).hexdigest() if kubeconfig else "")
        key = (namespace, obj.metadata.name or "")
        target = self._targets.get(key)
        if target is not None and target.identity == identity:
            return target
        if target is not None:
            await target.close()
        remote = await self._connect_remote(obj, kubeconfig) if kubeconfig else None
        base = remote if remote is not None else self._api
        api = (
            base.impersonating(
                f"system:serviceaccount:{namespace}:{account}",
                groups=["system:serviceaccounts", f"system:serviceaccounts:{namespace}"],
            )
            if account
            else base
        )
        discovery = resources.Discovery(base) if remote is not None else self._discovery
        target = _Target(
            identity=identity,
            manager=resourcemanager.ResourceManager(
                objects=applying.Objects(api=api, discovery=discovery),
                live=None if remote is not None else self._live,
                concurrency=self._settings.concurrent_ssa,
            ),
            remote=remote,
        )
        self._targets[key] = target
        return target

    async def _kubeconfig(self, obj: kustomize.Kustomization) -> str | None:
        """The kubeconfig text ``spec.kubeConfig.secretRef`` names, if any."""
        reference = obj.spec.kube_config
        if reference is None:
            return None
        if reference.secret_ref is None:
            raise results.StallingError(
                "spec.kubeConfig.configMapRef (cloud provider authentication) is not supported",
                reason=meta.RECONCILIATION_FAILED_REASON,
            )
        namespace = obj.metadata.namespace or "default"
        name = reference.secret_ref.name
        try:
            secret = await self._api.request(
                "GET", f"/api/v1/namespaces/{namespace}/secrets/{name}", verb="get"
            )
        except errors.NotFoundError as missing:
            raise self._failure(
                obj,
                meta.RECONCILIATION_FAILED_REASON,
                f"kubeconfig secret '{namespace}/{name}' not found",
            ) from missing
        data = secret.get("data") or {}
        keys = [reference.secret_ref.key] if reference.secret_ref.key else ["value", "value.yaml"]
        for data_key in keys:
            if data_key in data:
                return base64.b64decode(data[data_key]).decode()
        raise self._failure(
            obj,
            meta.RECONCILIATION_FAILED_REASON,
            f"kubeconfig secret '{namespace}/{name}' has no key {' or '.join(map(repr, keys))}",
        )

    async def _connect_remote(self, obj: kustomize.Kustomization, kubeconfig: str) -> client.Client:
        directory = await asyncio.to_thread(tempfile.mkdtemp, prefix="kubeconfig-")
        path = pathlib.Path(directory) / "kubeconfig"
        try:
            await asyncio.to_thread(path.write_text, kubeconfig)
            return await client.connect(kubeconfig=str(path), user_agent="kustomize-controller")
        except errors.KubeError as invalid:
            raise self._failure(
                obj, meta.RECONCILIATION_FAILED_REASON, f"invalid kubeconfig: {invalid.message}"
            ) from invalid
        finally:
            await asyncio.to_thread(shutil.rmtree, directory, True)

    @staticmethod
    def _owner(obj: kustomize.Kustomization) -> resourcemanager.Owner:
        return resourcemanager.Owner(
            name=obj.metadata.name or "", namespace=obj.metadata.namespace or "default"
        )

    # --- steps ---------------------------------------------------------------------------

    def _check_dependencies(self, obj: kustomize.Kustomization) -> None:
        namespace = obj.metadata.namespace or "default"
        for dependency in obj.spec.depends_on or []:
            dep_namespace = dependency.namespace or namespace
            if self._settings.no_cross_namespace_refs and dep_namespace != namespace:
                raise results.StallingError(
                    f"cannot access Kustomization/{dep_namespace}/{dependency.name}: "
                    "cross-namespace references are not allowed",
                    reason=meta.ACCESS_DENIED_REASON,
                )
            dep = self._kustomizations.get(f"{dep_namespace}/{dependency.name}")
            name = f"{dep_namespace}/{dependency.name}"
            if dep is None:
                raise self._dependency_error(f"dependency '{name}' not found")
            if dependency.ready_expr:
                if not _ready_expr(dependency.ready_expr, dep=dep, self_=objects.dump(obj)):
                    raise self._dependency_error(f"dependency '{name}' is not ready")
                continue
            status = dep.get("status") or {}
            ready = any(
                c.get("type") == meta.READY and c.get("status") == "True"
                for c in status.get("conditions") or []
            )
            if not ready or status.get("observedGeneration") != dep["metadata"].get("generation"):
                raise self._dependency_error(f"dependency '{name}' is not ready")

    def _dependency_error(self, message: str) -> results.WaitingError:
        return results.WaitingError(
            message,
            reason=meta.DEPENDENCY_NOT_READY_REASON,
            requeue_after=self._settings.requeue_dependency,
        )

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
            plural = "configmaps" if reference.kind == "ConfigMap" else "secrets"
            try:
                found: Mapping[str, Any] = await self._api.request(
                    "GET", f"/api/v1/namespaces/{namespace}/{plural}/{reference.name}", verb="get"
                )
            except errors.NotFoundError:
                return None
            return found

        return await substituting.collect_variables(obj.spec.post_build, fetch=fetch)

    async def _keys(self, obj: kustomize.Kustomization) -> decrypting.Keys | None:
        decryption = obj.spec.decryption
        if decryption is None or decryption.secret_ref is None:
            return None
        namespace = obj.metadata.namespace or "default"
        name = decryption.secret_ref.name
        try:
            secret = await self._api.request(
                "GET", f"/api/v1/namespaces/{namespace}/secrets/{name}", verb="get"
            )
        except errors.NotFoundError as missing:
            raise self._failure(
                obj, meta.BUILD_FAILED_REASON, f"decryption secret '{namespace}/{name}' not found"
            ) from missing
        try:
            return decrypting.keys_from_secret(secret)
        except decrypting.DecryptionError as invalid:
            raise self._failure(obj, meta.BUILD_FAILED_REASON, str(invalid)) from invalid

    async def _build(self, obj: kustomize.Kustomization, artifact: meta.Artifact) -> building.Build:
        status = obj.status
        assert status is not None
        variables = await self._variables(obj) if obj.spec.post_build else {}
        keys = await self._keys(obj)
        try:
            output = await self._render(obj, artifact, keys=keys)
            status.last_attempted_revision = artifact.revision
            return await asyncio.to_thread(
                building.post_build, output, obj.spec, variables=variables, keys=keys, strict=False
            )
        except building.PathNotFoundError as missing:
            status.last_attempted_revision = artifact.revision
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
            raise self._failure(obj, meta.BUILD_FAILED_REASON, str(failed)) from failed

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
        async with fetching.fetched(self._session, artifact.url, digest=artifact.digest) as root:
            output = await building.render(root, obj.spec, options=options, keys=keys)
        if key is not None:
            self._renders[key] = output
            while len(self._renders) > RENDER_CACHE_SIZE:
                self._renders.popitem(last=False)
        return output

    async def _health(
        self,
        obj: kustomize.Kustomization,
        manager: resourcemanager.ResourceManager,
        applied: list[inventory.Ref],
    ) -> str | None:
        """Wait for health when asked to; returns the Healthy message (None: not checked)."""
        spec = obj.spec
        status = obj.status
        assert status is not None
        if spec.wait:
            refs = applied
        else:
            refs = [
                inventory.Ref(
                    group=(check.api_version or "").rpartition("/")[0],
                    kind=check.kind,
                    namespace=check.namespace or obj.metadata.namespace or "",
                    name=check.name,
                    version=(check.api_version or "").rpartition("/")[2],
                )
                for check in spec.health_checks or []
            ]
        if not refs:
            status.conditions = conditions.delete(status.conditions, meta.HEALTHY)
            return None
        try:
            checks = healthexprs.compile_checks(
                [objects.dump(c) for c in spec.health_check_exprs or []]
            )
        except healthexprs.InvalidExpressionError as invalid:
            raise results.StallingError(
                str(invalid), reason=meta.INVALID_CEL_EXPRESSION_REASON
            ) from invalid
        timeout = meta.parse_duration(spec.timeout or spec.interval).total_seconds()
        started = time.monotonic()
        try:
            await manager.wait(
                refs,
                interval=min(2.0, timeout),
                within=timeout,
                readers=(checks.read,) if checks else (),
            )
        except waiting.WaitError as failed:
            status.conditions = conditions.mark_false(
                status.conditions,
                meta.HEALTHY,
                reason=meta.HEALTH_CHECK_FAILED_REASON,
                message=failed.message,
                generation=obj.metadata.generation,
            )
            raise self._failure(obj, meta.HEALTH_CHECK_FAILED_REASON, failed.message) from failed
        message = f"Health check passed in {_go_duration(time.monotonic() - started)}"
        status.conditions = conditions.mark_true(
            status.conditions,
            meta.HEALTHY,
            reason=HEALTHY_SUCCEEDED_REASON,
            message=message,
            generation=obj.metadata.generation,
        )
        return message

    # --- the reconcile -------------------------------------------------------------------

    async def reconcile(self, obj: kustomize.Kustomization) -> str | None:
        status = obj.status
        assert status is not None
        started = time.monotonic()
        self._check_dependencies(obj)
        artifact = await self._artifact(obj)
        with logging.bound(revision=artifact.revision):
            built = await self._build(obj, artifact)
            manager = (await self._target(obj)).manager
            owner = self._owner(obj)
            old = inventory.from_entries(
                [objects.dump(e) for e in status.inventory.entries] if status.inventory else []
            )
            await self._record_ahead(obj, old, built.objects)
            try:
                change_set = await manager.apply_all(
                    built.objects, owner=owner, force=obj.spec.force
                )
            except (resourcemanager.ApplyError, errors.KubeError, waiting.WaitError) as failed:
                self._record(
                    obj, built.digest, artifact, meta.RECONCILIATION_FAILED_REASON, started
                )
                raise self._failure(obj, meta.RECONCILIATION_FAILED_REASON, str(failed)) from failed
            applied = change_set.refs()
            status.inventory = inventory.to_status(applied)
            if obj.spec.prune:
                stale = inventory.stale(old, applied)
                try:
                    pruned = await manager.prune(stale, owner=owner)
                except errors.KubeError as failed:
                    status.inventory = inventory.to_status(inventory.merge(applied, stale))
                    self._record(obj, built.digest, artifact, meta.PRUNE_FAILED_REASON, started)
                    raise self._failure(obj, meta.PRUNE_FAILED_REASON, str(failed)) from failed
                change_set.changes.extend(pruned.changes)
            await self._announce(obj, change_set, artifact)
            try:
                await self._health(obj, manager, applied)
            except results.WaitingError:
                self._record(obj, built.digest, artifact, meta.HEALTH_CHECK_FAILED_REASON, started)
                raise
            status.last_applied_revision = artifact.revision
            status.last_applied_origin_revision = (artifact.metadata or {}).get(ORIGIN_REVISION_KEY)
            self._record(obj, built.digest, artifact, meta.RECONCILIATION_SUCCEEDED_REASON, started)
        return f"Applied revision: {artifact.revision}"

    async def _record_ahead(
        self,
        obj: kustomize.Kustomization,
        recorded: list[inventory.Ref],
        manifests: list[dict[str, Any]],
    ) -> None:
        """Write-ahead: put every object this run may create in the inventory before any write.

        One status write, only when the build names objects the inventory
        lacks (``inventory.grown``). A kill at any later point leaves each
        created object in ``status.inventory``, where the next run's prune (or
        ``finalize``) finds it.
        """
        status = obj.status
        assert status is not None
        ahead = inventory.grown(recorded, [inventory.Ref.of(m) for m in manifests])
        if ahead is None:
            return
        status.inventory = inventory.to_status(ahead)
        try:
            await reconciling.write_status(status)
        except errors.KubeError as failed:
            raise self._failure(
                obj,
                meta.RECONCILIATION_FAILED_REASON,
                f"recording the inventory before applying failed: {failed.message}",
            ) from failed

    def _record(
        self,
        obj: kustomize.Kustomization,
        digest: str,
        artifact: meta.Artifact,
        reason: str,
        started: float,
    ) -> None:
        """Add this run to ``status.history`` (newest first, at most five, merged by outcome).

        NB: a repeat of the newest entry's digest and outcome leaves the history
        as it is — unlike Flux, which bumps its counters — so that a no-op
        reconcile writes nothing at all.
        """
        status = obj.status
        assert status is not None
        history = list(status.history or [])
        if history and history[0].digest == digest and history[0].last_reconciled_status == reason:
            return
        now = conditions.now()
        duration = _go_duration(time.monotonic() - started)
        match = next(
            (h for h in history if h.digest == digest and h.last_reconciled_status == reason), None
        )
        if match is not None:
            history.remove(match)
            entry = match.model_copy(
                update={
                    "last_reconciled": now,
                    "last_reconciled_duration": duration,
                    "total_reconciliations": match.total_reconciliations + 1,
                }
            )
        else:
            metadata = {"revision": artifact.revision}
            origin = (artifact.metadata or {}).get(ORIGIN_REVISION_KEY)
            if origin:
                metadata["originRevision"] = origin
            entry = kustomize.Snapshot(
                digest=digest,
                first_reconciled=now,
                last_reconciled=now,
                last_reconciled_duration=duration,
                last_reconciled_status=reason,
                total_reconciliations=1,
                metadata=metadata,
            )
        status.history = [entry, *history][:HISTORY_LIMIT]

    async def _announce(
        self,
        obj: kustomize.Kustomization,
        change_set: resourcemanager.ChangeSet,
        artifact: meta.Artifact,
    ) -> None:
        lines = []
        for change in change_set.changes:
            if change.action not in (
                resourcemanager.Action.CREATED,
                resourcemanager.Action.CONFIGURED,
                resourcemanager.Action.DELETED,
            ):
                continue
            line = str(change)
            if change.drifted and change.fields:
                line += f" (drift: {', '.join(change.fields)})"
            lines.append(line)
        if not lines:
            return
        logging.get_logger().info("server-side apply completed", changes=lines)
        metadata = {"revision": artifact.revision, "commit_status": "update"}
        upstream = artifact.metadata or {}
        for key, name in (
            (ORIGIN_REVISION_KEY, "originRevision"),
            (source.ARTIFACT_COMMIT_SUBJECT_KEY, "commitSubject"),
            (source.ARTIFACT_COMMIT_AUTHOR_KEY, "commitAuthor"),
        ):
            if upstream.get(key):
                metadata[name] = upstream[key]
        await self._recorder.emit(
            objects.dump(obj),
            type_=events.NORMAL,
            reason=meta.RECONCILIATION_SUCCEEDED_REASON,
            message="\n".join(lines),
            metadata=metadata,
        )

    async def finalize(self, obj: kustomize.Kustomization) -> None:
        """Delete what the Kustomization applied, as its ``deletionPolicy`` says."""
        policy = obj.spec.deletion_policy or "MirrorPrune"
        status = obj.status
        refs = (
            inventory.from_entries([objects.dump(e) for e in status.inventory.entries])
            if status is not None and status.inventory
            else []
        )
        delete = policy in ("Delete", "WaitForTermination") or (
            policy == "MirrorPrune" and obj.spec.prune
        )
        if delete and refs and not obj.spec.suspend:
            # NB: only now is the target needed (for a remote cluster: its
            # kubeconfig Secret and a connection).
            manager = (await self._target(obj)).manager
            await manager.prune(refs, owner=self._owner(obj))
            if policy == "WaitForTermination":
                timeout = meta.parse_duration(obj.spec.timeout or obj.spec.interval)
                with contextlib.suppress(waiting.WaitError):
                    await manager.wait_for_termination(
                        refs, interval=2.0, within=timeout.total_seconds()
                    )
        target = self._targets.pop(
            (obj.metadata.namespace or "default", obj.metadata.name or ""), None
        )
        if target is not None:
            await target.close()


def _ready_expr(expression: str, *, dep: Mapping[str, Any], self_: Mapping[str, Any]) -> bool:
    try:
        value = validation.program(expression).evaluate(
            {
                "dep": celpy.adapter.json_to_cel(dict(dep)),
                "self": celpy.adapter.json_to_cel(dict(self_)),
            }
        )
    except (celpy.celparser.CELParseError, celpy.evaluation.CELEvalError) as invalid:
        raise results.StallingError(
            f"invalid readyExpr {expression!r}: {invalid}",
            reason=meta.INVALID_CEL_EXPRESSION_REASON,
        ) from invalid
    return isinstance(value, celpy.celtypes.BoolType) and bool(value)
