"""The OCIRepository reconciler: a registry in, an artifact in storage out.

Steps (``OCIRepositoryReconciler.steps``; the runtime's summarizer derives
Ready/Reconciling/Stalled):

1. **provider** — only ``generic``; ``aws``, ``azure`` and ``gcp`` (cloud
   identities) stall with ``FetchFailed``/``InvalidProviderConfiguration``;
   a ``verify`` asking for keyless cosign or Notation stalls with
   ``SourceVerified=False``/``VerificationError`` saying it is not supported;
2. **artifact** — the connection from the Secrets (``connecting``), the
   ref resolved to a digest (``pulling.resolve``: one ``HEAD`` for a tag).
   When the revision, ignore rules, layer selector and verification are
   those of the stored artifact, nothing more is requested or written.
   Otherwise ``ArtifactOutdated`` (when an artifact exists) and progress,
   the manifest, the cosign signature check (``cosign``), the layer pulled
   and stored, garbage collected. Failures map to ``FetchFailed``,
   ``StorageOperationFailed`` or ``SourceVerified=False``; a new revision
   emits ``NewArtifact``.

One ``aiohttp.ClientSession`` and one token cache serve every object of the
process (``close`` releases them). Deleting an OCIRepository removes its
storage directory.
"""

from __future__ import annotations

import aiohttp

from controllers.source import sourcekit
from controllers.source.ocirepository import connecting, cosign, pulling
from shared.api import meta, objects, source, source_conditions
from shared.artifacts import storage
from shared.kube import client, references
from shared.oci import client as oci_client
from shared.oci import errors as oci_errors
from shared.oci import tokens, transport
from shared.runtime import conditions, events, logging, reconciling, results

SUMMARY = conditions.Summary(
    owned=(
        source_conditions.STORAGE_OPERATION_FAILED_CONDITION,
        source_conditions.FETCH_FAILED_CONDITION,
        source_conditions.SOURCE_VERIFIED_CONDITION,
        source_conditions.ARTIFACT_OUTDATED_CONDITION,
        source_conditions.ARTIFACT_IN_STORAGE_CONDITION,
    ),
    negative=frozenset(
        {
            source_conditions.STORAGE_OPERATION_FAILED_CONDITION,
            source_conditions.FETCH_FAILED_CONDITION,
            source_conditions.ARTIFACT_OUTDATED_CONDITION,
        }
    ),
    bipolar=frozenset({source_conditions.SOURCE_VERIFIED_CONDITION}),
)
_FAILURE_CONDITIONS = (
    source_conditions.FETCH_FAILED_CONDITION,
    source_conditions.STORAGE_OPERATION_FAILED_CONDITION,
    source_conditions.ARTIFACT_OUTDATED_CONDITION,
)
_SUCCESS_CONDITIONS = (
    source_conditions.ARTIFACT_IN_STORAGE_CONDITION,
    source_conditions.SOURCE_VERIFIED_CONDITION,
)

Run = reconciling.Run[source.OCIRepository, source.OCIRepositoryStatus]


class OCIRepositoryReconciler:
    """Reconciles OCIRepositories into artifacts in ``store``."""

    kind = source.OCIRepository
    status_type = source.OCIRepositoryStatus
    run_type = Run
    summary = SUMMARY

    def __init__(
        self, *, api: client.Client, store: storage.Storage, recorder: events.Recorder
    ) -> None:
        self._api = api
        self._store = store
        self._recorder = recorder
        self._tokens = tokens.TokenCache()
        self._session: aiohttp.ClientSession | None = None
        self.steps: tuple[reconciling.Step[Run], ...] = (
            reconciling.Step(
                "provider",
                self._provider,
                owns=(
                    source_conditions.FETCH_FAILED_CONDITION,
                    source_conditions.SOURCE_VERIFIED_CONDITION,
                ),
            ),
            reconciling.Step(
                "artifact", self._artifact, owns=(*_FAILURE_CONDITIONS, *_SUCCESS_CONDITIONS)
            ),
        )

    def interval(self, obj: source.OCIRepository) -> float:
        return sourcekit.interval(obj)

    async def finalize(self, obj: source.OCIRepository) -> None:
        await self._store.remove_object(sourcekit.object_key(obj))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _client(self, connection: transport.Connection) -> oci_client.Client:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return oci_client.Client(self._session, connection, token_cache=self._tokens)

    async def _provider(self, run: Run) -> None:
        spec = run.obj.spec
        # NB: aws, azure and gcp fetch registry tokens from cloud identity
        # services (ECR, ACR, GAR), which Headwater does not implement.
        sourcekit.require_generic_provider(run, spec.provider)
        why = cosign.unsupported(spec.verify) if spec.verify is not None else None
        if why is not None:
            run.mark(
                source_conditions.SOURCE_VERIFIED_CONDITION,
                "False",
                reason=source_conditions.VERIFICATION_ERROR_REASON,
                message=why,
            )
            raise results.StallingError(why, reason=source_conditions.VERIFICATION_ERROR_REASON)

    def _unchanged(self, run: Run, revision: str) -> bool:
        status, spec = run.status, run.obj.spec
        artifact = status.artifact
        return (
            artifact is not None
            and artifact.revision == revision
            and self._store.exists(artifact)
            and status.observed_ignore == spec.ignore
            and status.observed_layer_selector == spec.layer_selector
            and _verified(status) == (spec.verify is not None)
        )

    async def _artifact(self, run: Run) -> None:
        obj = run.obj
        try:
            reference = pulling.parse_url(obj.spec.url)
            connection = await connecting.connection(
                self._api, obj, reference.host, reference.api_host
            )
            oci = self._client(connection)
            resolved = await pulling.resolve(oci, reference, obj.spec.ref)
            if self._unchanged(run, resolved.revision):
                run.ready_message = f"stored artifact for digest '{resolved.revision}'"
                return
            self._outdated(run, resolved.revision)
            manifest = await pulling.manifest_of(oci, resolved)
            signer = await self._verify(run, oci, resolved)
            artifact, _deleted = await pulling.pull(
                oci,
                store=self._store,
                key=sourcekit.object_key(obj),
                resolved=resolved,
                manifest=manifest,
                spec=obj.spec,
            )
        except pulling.PullError as failure:
            raise self._failed(run, failure) from failure
        except oci_errors.RegistryError as failure:
            reason = (
                source_conditions.AUTHENTICATION_FAILED_REASON
                if isinstance(failure, oci_errors.UnauthorizedError)
                else source_conditions.OCI_PULL_FAILED_REASON
            )
            raise self._failed(run, pulling.PullError(str(failure), reason=reason)) from failure
        self._succeeded(run, artifact, signer)
        await self._announce(obj, artifact)
        run.ready_message = f"stored artifact for digest '{artifact.revision}'"

    def _outdated(self, run: Run, revision: str) -> None:
        run.revision = revision
        message = f"new revision '{revision}' for '{run.obj.spec.url}'"
        if run.status.artifact is not None:
            run.mark(
                source_conditions.ARTIFACT_OUTDATED_CONDITION,
                "True",
                reason=source_conditions.NEW_REVISION_REASON,
                message=message,
            )
        run.progress(f"building artifact: {message}", restart=True)

    async def _verify(
        self, run: Run, oci: oci_client.Client, resolved: pulling.Resolved
    ) -> str | None:
        """The key that verified the artifact, or None when ``verify`` is unset."""
        verify = run.obj.spec.verify
        if verify is None or verify.secret_ref is None:
            return None
        namespace = run.obj.metadata.namespace or "default"
        try:
            secret = await references.secret_data(self._api, namespace, verify.secret_ref.name)
        except references.ReferenceNotFoundError as missing:
            raise pulling.PullError(
                missing.message, reason=source_conditions.AUTHENTICATION_FAILED_REASON
            ) from missing
        try:
            keys = cosign.load_keys(secret)
            return await cosign.verify(oci, resolved.reference.repository, resolved.digest, keys)
        except cosign.VerificationError as refused:
            message = f"failed to verify the signature using provider 'cosign': {refused}"
            run.mark(
                source_conditions.SOURCE_VERIFIED_CONDITION,
                "False",
                reason=source_conditions.VERIFICATION_ERROR_REASON,
                message=message,
            )
            raise results.ReconcileError(
                message, reason=source_conditions.VERIFICATION_ERROR_REASON
            ) from refused

    def _failed(self, run: Run, failure: pulling.PullError) -> Exception:
        """Record ``failure`` in its condition and return the error the skeleton sees."""
        return sourcekit.failure(
            run,
            str(failure),
            reason=failure.reason,
            in_storage=failure.storage,
            stalling=failure.stalling,
        )

    def _succeeded(self, run: Run, artifact: meta.Artifact, signer: str | None) -> None:
        status, spec = run.status, run.obj.spec
        run.delete(*_FAILURE_CONDITIONS)
        status.artifact = artifact
        status.observed_ignore = spec.ignore
        status.observed_layer_selector = spec.layer_selector
        run.mark(
            source_conditions.ARTIFACT_IN_STORAGE_CONDITION,
            "True",
            reason=meta.SUCCEEDED_REASON,
            message=f"stored artifact for digest '{artifact.revision}'",
        )
        if signer is None:
            run.delete(source_conditions.SOURCE_VERIFIED_CONDITION)
        else:
            run.mark(
                source_conditions.SOURCE_VERIFIED_CONDITION,
                "True",
                reason=meta.SUCCEEDED_REASON,
                message=f"verified signature of revision {artifact.revision} with key '{signer}'",
            )

    async def _announce(self, obj: source.OCIRepository, artifact: meta.Artifact) -> None:
        message = f"stored artifact with revision '{artifact.revision}' from '{obj.spec.url}'"
        logging.get_logger().info("stored artifact", revision=artifact.revision, url=obj.spec.url)
        await self._recorder.emit(
            objects.dump(obj),
            type_=events.NORMAL,
            reason=source_conditions.NEW_ARTIFACT_EVENT_REASON,
            message=message,
            metadata={"revision": artifact.revision, "digest": artifact.digest},
        )


def _verified(status: source.OCIRepositoryStatus) -> bool:
    """True when the stored artifact's signature was verified (``SourceVerified=True``)."""
    return any(
        c.type == source_conditions.SOURCE_VERIFIED_CONDITION and c.status == "True"
        for c in status.conditions or []
    )
