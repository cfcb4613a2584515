"""The ArtifactGenerator reconciler: source artifacts in, ExternalArtifacts out.

It runs inside source-controller (one process, one storage and file server
for every artifact; Flux runs it as its own source-watcher process), so the
ExternalArtifacts it publishes are served like any source's. Steps
(``ArtifactGeneratorReconciler.steps``):

1. **sources** — each ``spec.sources`` entry read from the API server; a
   missing one or one without an artifact is ``SourceFetchFailed``
   (retried). The observed sources (digest, revision, URL per alias) are
   hashed as Flux does into ``status.observedSourcesDigest``; when it, the
   generation and every inventoried artifact in storage are unchanged,
   nothing is fetched or written.
2. **artifacts** — every source downloaded over HTTP, digest-verified and
   extracted; each ``spec.artifacts`` entry built by its copy rules
   (``building``; a failure is ``BuildFailed``) and archived in storage as
   ``externalartifact/<ns>/<name>/<digest>.tar.gz`` with Flux's revision
   ``latest@sha256:<digest>`` (or the revision of the ``revision`` alias;
   ``originRevision`` puts the alias's origin revision, or revision, in the
   metadata under ``org.opencontainers.image.revision``). The ExternalArtifact
   is applied (labelled with the generator's UID, ``spec.sourceRef`` naming
   it) and its status set to the artifact with Ready=True; ExternalArtifacts
   no longer generated are deleted with their storage. A changed artifact is
   an event (reason ``Ready``), as in Flux.

With ``pathPattern``, the artifacts are templates rendered once per matching
directory of the pattern's source (``pathpatterns``), the captured values
becoming labels of each ExternalArtifact; a pattern that cannot give valid
artifacts stalls with ``BuildFailed``. The annotation
``source.extensions.fluxcd.io/reconcile: disabled`` pauses the generator (the
model reports it as ``spec.suspend``). Deleting the generator deletes what
it generated.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import pathlib
import tempfile
from typing import Any

import aiohttp

from controllers.source.artifactgenerator import building, pathpatterns
from shared.api import meta, objects, registry, source, source_extensions
from shared.artifacts import errors as artifact_errors
from shared.artifacts import fetching, storage
from shared.kube import client, errors, resources
from shared.runtime import conditions, events, logging, reconciling, results

FIELD_MANAGER = "source-controller"
EXTERNAL_ARTIFACTS = resources.Resource(
    group=source.GROUP, version=source.VERSION, kind="ExternalArtifact",
    plural="externalartifacts", namespaced=True,
)  # fmt: skip
BUILD_FAILED_REASON = "BuildFailed"


@dataclasses.dataclass(frozen=True)
class ObservedSource:
    """One source's artifact as the generator saw it."""

    artifact: meta.Artifact

    @property
    def origin_revision(self) -> str | None:
        return (self.artifact.metadata or {}).get(source_extensions.ORIGIN_REVISION_ANNOTATION)

    def describe(self) -> str:
        a = self.artifact
        return f"digest={a.digest},revision={a.revision},url={a.url}"


def sources_digest(observed: dict[str, ObservedSource]) -> str:
    """Flux's ``observedSourcesDigest``: sha256 of the sorted ``alias=[…]`` parts joined by |."""
    parts = sorted(f"{alias}=[{o.describe()}]" for alias, o in observed.items())
    return "sha256:" + hashlib.sha256("|".join(parts).encode()).hexdigest()


@dataclasses.dataclass(eq=False, kw_only=True)
class Run(
    reconciling.Run[source_extensions.ArtifactGenerator, source_extensions.ArtifactGeneratorStatus]
):
    observed: dict[str, ObservedSource] = dataclasses.field(init=False)


class ArtifactGeneratorReconciler:
    """Reconciles ArtifactGenerators into ExternalArtifacts backed by ``store``."""

    kind = source_extensions.ArtifactGenerator
    status_type = source_extensions.ArtifactGeneratorStatus
    run_type = Run
    summary = conditions.Summary(owned=(), negative=frozenset())

    def __init__(
        self,
        *,
        api: client.Client,
        store: storage.Storage,
        recorder: events.Recorder,
        session: aiohttp.ClientSession,
        interval: float = 3600.0,
    ) -> None:
        self._api = api
        self._store = store
        self._recorder = recorder
        self._session = session
        self._interval = interval
        self.steps: tuple[reconciling.Step[Run], ...] = (
            reconciling.Step("sources", self._sources),
            reconciling.Step("artifacts", self._artifacts),
        )

    def interval(self, obj: source_extensions.ArtifactGenerator) -> float:
        """Flux requeues generators hourly; source changes enqueue them at once."""
        return self._interval

    async def finalize(self, obj: source_extensions.ArtifactGenerator) -> None:
        for entry in (obj.status.inventory if obj.status else None) or []:
            await self._remove(entry.namespace, entry.name)

    async def _sources(self, run: Run) -> None:
        spec, namespace = run.obj.spec, _namespace(run.obj)
        observed: dict[str, ObservedSource] = {}
        for ref in spec.sources:
            where = f"{ref.kind}/{ref.namespace or namespace}/{ref.name}"
            model = registry.kind_for(source.API_VERSION, ref.kind)
            resource = _resource(model.crd)
            try:
                found = await self._api.request(
                    "GET",
                    resource.path(namespace=ref.namespace or namespace, name=ref.name),
                    verb="get",
                )
            except errors.NotFoundError as missing:
                message = f"get sources failed: source '{where}' not found"
                raise results.ReconcileError(
                    message, reason=source_extensions.SOURCE_FETCH_FAILED_REASON
                ) from missing
            raw = (found.get("status") or {}).get("artifact")
            if not raw:
                message = f"get sources failed: source '{where}' is not ready"
                raise results.ReconcileError(
                    message, reason=source_extensions.SOURCE_FETCH_FAILED_REASON
                )
            observed[ref.alias] = ObservedSource(meta.Artifact.model_validate(raw))
        run.observed = observed

    def _up_to_date(self, run: Run, digest: str) -> bool:
        status = run.status
        return (
            status.observed_sources_digest == digest
            and status.observed_generation == run.generation
            and bool(status.inventory)
            and all(
                self._store.local_path(
                    self._store.artifact_path(_key(e.namespace, e.name), e.filename)
                ).is_file()
                for e in status.inventory or []
            )
        )

    async def _artifacts(self, run: Run) -> None:
        obj, status = run.obj, run.status
        digest = sources_digest(run.observed)
        count = len(status.inventory or [])
        if self._up_to_date(run, digest):
            run.ready_message = f"No drift detected, {count} artifact(s) up to date"
            return
        run.progress("building artifacts", restart=True)
        previous = {(e.namespace, e.name): e for e in status.inventory or []}
        inventory: list[source_extensions.ExternalArtifactReference] = []
        changed: list[str] = []
        async with contextlib.AsyncExitStack() as stack:
            trees = {
                alias: await stack.enter_async_context(self._fetched(alias, o))
                for alias, o in run.observed.items()
            }
            workspace = pathlib.Path(stack.enter_context(tempfile.TemporaryDirectory()))
            try:
                requests = pathpatterns.expand(obj.spec.path_pattern, obj.spec.artifacts, trees)
            except pathpatterns.PatternError as failed:
                raise results.StallingError(
                    f"failed to expand path pattern: {failed}", reason=BUILD_FAILED_REASON
                ) from failed
            for request in requests:
                output = request.output
                artifact = await self._build(run, output, trees, workspace)
                reference = await self._publish(run, output, artifact, request.labels)
                inventory.append(reference)
                old = previous.get((reference.namespace, reference.name))
                if old is None or old.digest != reference.digest:
                    changed.append(f"{reference.namespace}/{reference.name} ({artifact.revision})")
        kept = {(e.namespace, e.name) for e in inventory}
        for key, entry in previous.items():
            if key not in kept:
                await self._remove(entry.namespace, entry.name)
        status.inventory = inventory
        status.observed_sources_digest = digest
        run.ready_message = f"reconciliation succeeded, generated {len(inventory)} artifact(s)"
        if changed:
            message = "external artifacts reconciled: " + "\n".join(changed)
            logging.get_logger().info("external artifacts reconciled", artifacts=changed)
            await self._recorder.emit(
                objects.dump(obj), type_=events.NORMAL, reason=meta.READY, message=message
            )

    @contextlib.asynccontextmanager
    async def _fetched(self, alias: str, observed: ObservedSource) -> Any:
        artifact = observed.artifact
        try:
            async with fetching.fetched(
                self._session, artifact.url, digest=artifact.digest
            ) as tree:
                yield tree
        except artifact_errors.ArtifactError as failed:
            message = f"fetch sources failed: '{alias}' from {artifact.url}: {failed}"
            raise results.ReconcileError(
                message, reason=source_extensions.SOURCE_FETCH_FAILED_REASON
            ) from failed

    async def _build(
        self,
        run: Run,
        output: source_extensions.OutputArtifact,
        trees: dict[str, pathlib.Path],
        workspace: pathlib.Path,
    ) -> meta.Artifact:
        staging = workspace / output.name
        try:
            building.apply(output.copy_, trees, staging)
        except building.OperationError as failed:
            raise results.ReconcileError(
                f"{output.name} build failed: {failed}", reason=BUILD_FAILED_REASON
            ) from failed
        key = _key(_namespace(run.obj), output.name)
        try:
            async with self._store.lock(key):
                artifact = await self._store.archive(key, source=staging, revision="latest")
                await self._store.garbage_collect(artifact)
        except artifact_errors.ArtifactError as failed:
            raise results.ReconcileError(
                f"{output.name} build failed: {failed}", reason=BUILD_FAILED_REASON
            ) from failed
        artifact.revision = f"latest@{artifact.digest}"
        if output.revision:
            artifact.revision = run.observed[output.revision.removeprefix("@")].artifact.revision
        if output.origin_revision:
            origin = run.observed[output.origin_revision.removeprefix("@")]
            artifact.metadata = {
                **(artifact.metadata or {}),
                source_extensions.ORIGIN_REVISION_ANNOTATION: origin.origin_revision
                or origin.artifact.revision,
            }
        return artifact

    async def _publish(
        self,
        run: Run,
        output: source_extensions.OutputArtifact,
        artifact: meta.Artifact,
        captured: dict[str, str],
    ) -> source_extensions.ExternalArtifactReference:
        obj, namespace = run.obj, _namespace(run.obj)
        common = obj.spec.common_metadata
        labels = {
            **((common.labels if common else None) or {}),
            **captured,
            "app.kubernetes.io/managed-by": FIELD_MANAGER,
            source_extensions.GENERATOR_LABEL: obj.metadata.uid or "",
        }
        metadata: dict[str, Any] = {"name": output.name, "namespace": namespace, "labels": labels}
        if common is not None and common.annotations:
            metadata["annotations"] = dict(common.annotations)
        path = EXTERNAL_ARTIFACTS.path(namespace=namespace, name=output.name)
        body = {
            "apiVersion": source.API_VERSION,
            "kind": "ExternalArtifact",
            "metadata": metadata,
            "spec": {
                "sourceRef": {
                    "apiVersion": source_extensions.API_VERSION,
                    "kind": "ArtifactGenerator",
                    "name": obj.metadata.name,
                    "namespace": namespace,
                }
            },
        }
        ready = meta.Condition(
            type=meta.READY,
            status="True",
            reason=meta.SUCCEEDED_REASON,
            message="Artifact is ready",
            last_transition_time=conditions.now(),
        )
        status = {
            "status": {"artifact": objects.dump(artifact), "conditions": [objects.dump(ready)]}
        }
        try:
            applied = await self._api.request(
                "PATCH", path, query={"fieldManager": FIELD_MANAGER, "force": "true"},
                body=body, content_type=client.APPLY_PATCH, verb="patch",
            )  # fmt: skip
            ready.observed_generation = applied["metadata"].get("generation")
            status["status"]["conditions"] = [objects.dump(ready)]
            await self._api.request(
                "PATCH", f"{path}/status", body=status,
                content_type="application/merge-patch+json", verb="patch",
            )  # fmt: skip
        except errors.KubeError as failed:
            raise results.ReconcileError(
                f"{output.name} reconcile failed: {failed}",
                reason=meta.RECONCILIATION_FAILED_REASON,
            ) from failed
        return source_extensions.ExternalArtifactReference(
            name=output.name,
            namespace=namespace,
            digest=artifact.digest,
            filename=artifact.path.rsplit("/", 1)[-1],
        )

    async def _remove(self, namespace: str, name: str) -> None:
        """Delete a generated ExternalArtifact and its storage (already gone is fine)."""
        with contextlib.suppress(errors.NotFoundError):
            await self._api.request(
                "DELETE", EXTERNAL_ARTIFACTS.path(namespace=namespace, name=name), verb="delete"
            )
        await self._store.remove_object(_key(namespace, name))


def _namespace(obj: source_extensions.ArtifactGenerator) -> str:
    return obj.metadata.namespace or "default"


def _key(namespace: str, name: str) -> storage.ObjectKey:
    return storage.ObjectKey(kind="ExternalArtifact", namespace=namespace, name=name)


def _resource(crd: objects.CrdInfo) -> resources.Resource:
    return resources.Resource(
        group=crd.group, version=crd.version, kind=crd.kind, plural=crd.plural, namespaced=True
    )


def source_keys(obj: dict[str, Any]) -> list[str]:
    """``Kind/namespace/name`` of every source an ArtifactGenerator (JSON) reads."""
    namespace = obj["metadata"].get("namespace")
    return [
        f"{ref.get('kind')}/{ref.get('namespace') or namespace}/{ref.get('name')}"
        for ref in (obj.get("spec") or {}).get("sources") or []
    ]
