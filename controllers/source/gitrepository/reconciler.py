"""The GitRepository reconciler: Kubernetes in, ``git.syncing.sync`` in the middle.

Steps (``GitRepositoryReconciler.steps``; each sets only the conditions it
owns; the runtime's summarizer derives Ready/Reconciling/Stalled):

1. **provider** — only ``generic`` is supported; another stalls with
   ``FetchFailed``/``InvalidProviderConfiguration``;
2. **includes** — every ``spec.include`` must name a GitRepository with an
   artifact in this storage, else ``IncludeUnavailable`` (a wait, retried
   after the interval);
3. **artifact** — read the Secrets ``spec.secretRef``, ``proxySecretRef`` and
   ``verify.secretRef`` name (a missing Secret is ``FetchFailed``/
   ``AuthenticationFailed``, retried); remote revision first; unchanged →
   nothing cloned or written; a new one marks ``ArtifactOutdated`` (when an
   artifact exists) and shows progress, then checkout, verify, include,
   package, garbage-collect. Failures map to ``FetchFailed``,
   ``StorageOperationFailed`` or ``SourceVerified=False``; URL and mode
   errors stall. Success records the artifact, included artifacts, observed
   settings, ``ArtifactInStorage`` and ``SourceVerified``, and on a new
   revision a ``NewArtifact`` event carrying the commit subject, author and
   revision.

Deleting a GitRepository removes its storage directory.
"""

from __future__ import annotations

import dataclasses

from controllers.source import sourcekit
from controllers.source.git import errors as git_errors
from controllers.source.git import including, syncing, verification
from shared.api import meta, objects, source, source_conditions
from shared.artifacts import storage
from shared.kube import client, references
from shared.runtime import conditions, events, informers, logging, reconciling, results

SUMMARY = conditions.Summary(
    # NB: ArtifactOutdated ranks after every failure: a new revision that
    # failed to fetch, store or verify says more than that it exists.
    owned=(
        source_conditions.STORAGE_OPERATION_FAILED_CONDITION,
        source_conditions.FETCH_FAILED_CONDITION,
        source_conditions.INCLUDE_UNAVAILABLE_CONDITION,
        source_conditions.SOURCE_VERIFIED_CONDITION,
        source_conditions.ARTIFACT_OUTDATED_CONDITION,
        source_conditions.ARTIFACT_IN_STORAGE_CONDITION,
    ),
    negative=frozenset(
        {
            source_conditions.STORAGE_OPERATION_FAILED_CONDITION,
            source_conditions.FETCH_FAILED_CONDITION,
            source_conditions.INCLUDE_UNAVAILABLE_CONDITION,
            source_conditions.ARTIFACT_OUTDATED_CONDITION,
        }
    ),
    bipolar=frozenset({source_conditions.SOURCE_VERIFIED_CONDITION}),
)

_STORAGE_REASONS = frozenset(
    {
        source_conditions.ARCHIVE_OPERATION_FAILED_REASON,
        source_conditions.ILLEGAL_PATH_REASON,
        source_conditions.COPY_FAILURE_REASON,
    }
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
NEW_REVISION_REASON = "NewRevision"

Run = reconciling.Run[source.GitRepository, source.GitRepositoryStatus]


@dataclasses.dataclass(eq=False, kw_only=True)
class _Run(Run):
    """One GitRepository reconcile; ``includes`` is set by the includes step."""

    includes: list[including.IncludedArtifact] = dataclasses.field(init=False)


class GitRepositoryReconciler:
    """Reconciles GitRepositories into artifacts in ``store``."""

    kind = source.GitRepository
    status_type = source.GitRepositoryStatus
    run_type = _Run
    summary = SUMMARY

    def __init__(
        self,
        *,
        api: client.Client,
        store: storage.Storage,
        recorder: events.Recorder,
        repositories: informers.Informer,
    ) -> None:
        self._api = api
        self._store = store
        self._recorder = recorder
        self._repositories = repositories
        self.steps: tuple[reconciling.Step[_Run], ...] = (
            reconciling.Step(
                "provider", self._provider, owns=(source_conditions.FETCH_FAILED_CONDITION,)
            ),
            reconciling.Step(
                "includes", self._include, owns=(source_conditions.INCLUDE_UNAVAILABLE_CONDITION,)
            ),
            reconciling.Step(
                "artifact", self._artifact, owns=(*_FAILURE_CONDITIONS, *_SUCCESS_CONDITIONS)
            ),
        )

    def interval(self, obj: source.GitRepository) -> float:
        return sourcekit.interval(obj)

    async def finalize(self, obj: source.GitRepository) -> None:
        await self._store.remove_object(sourcekit.object_key(obj))

    async def _secret(self, namespace: str, name: str) -> dict[str, bytes]:
        try:
            return await references.secret_data(self._api, namespace, name)
        except references.ReferenceNotFoundError as missing:
            raise git_errors.AuthError(missing.message) from missing

    async def _credentials(self, obj: source.GitRepository) -> syncing.Credentials:
        namespace = obj.metadata.namespace or "default"
        spec = obj.spec
        return syncing.Credentials(
            secret=await self._secret(namespace, spec.secret_ref.name) if spec.secret_ref else None,
            proxy=(
                await self._secret(namespace, spec.proxy_secret_ref.name)
                if spec.proxy_secret_ref
                else None
            ),
            verification=(
                await self._secret(namespace, spec.verify.secret_ref.name)
                if spec.verify is not None
                else None
            ),
        )

    def _includes(self, obj: source.GitRepository) -> list[including.IncludedArtifact]:
        namespace = obj.metadata.namespace or "default"
        found = []
        for include in obj.spec.include or []:
            name = include.repository.name
            raw = self._repositories.get(f"{namespace}/{name}")
            if raw is None:
                raise results.WaitingError(
                    f"could not get resource for include '{name}': GitRepository "
                    f"'{namespace}/{name}' not found",
                    reason=source_conditions.NOT_FOUND_REASON,
                    requeue_after=self.interval(obj),
                )
            artifact_raw = (raw.get("status") or {}).get("artifact")
            included = meta.Artifact.model_validate(artifact_raw) if artifact_raw else None
            if included is None or not self._store.exists(included):
                raise results.WaitingError(
                    f"no artifact available for include '{name}'",
                    reason=source_conditions.NO_ARTIFACT_REASON,
                    requeue_after=self.interval(obj),
                )
            found.append(
                including.IncludedArtifact(
                    include=include,
                    artifact=included,
                    archive=self._store.local_path(included.path),
                )
            )
        return found

    async def _provider(self, run: _Run) -> None:
        # NB: the others authenticate against cloud identity services (GitHub
        # Apps, AWS CodeCommit IAM, Azure workload identity), which Headwater
        # does not implement yet; say so instead of ignoring it.
        sourcekit.require_generic_provider(run, run.obj.spec.provider)

    async def _include(self, run: _Run) -> None:
        try:
            run.includes = self._includes(run.obj)
        except results.WaitingError as waiting:
            run.mark(
                source_conditions.INCLUDE_UNAVAILABLE_CONDITION,
                "True",
                reason=waiting.reason,
                message=waiting.message,
            )
            raise
        run.delete(source_conditions.INCLUDE_UNAVAILABLE_CONDITION)

    async def _artifact(self, run: _Run) -> None:
        obj = run.obj

        def outdated(revision: str) -> None:
            # The remote moved on: say so while the new revision is fetched.
            run.revision = revision
            message = f"new upstream revision '{revision}'"
            if run.status.artifact is not None:
                run.mark(
                    source_conditions.ARTIFACT_OUTDATED_CONDITION,
                    "True",
                    reason=NEW_REVISION_REASON,
                    message=message,
                )
            run.progress(f"building artifact: {message}", restart=True)

        try:
            credentials = await self._credentials(obj)
            outcome = await syncing.sync(
                key=sourcekit.object_key(obj),
                spec=obj.spec,
                status=run.status,
                credentials=credentials,
                includes=run.includes,
                store=self._store,
                on_new_revision=outdated,
            )
        except git_errors.GitError as failure:
            raise self._failed(run, failure) from failure
        self._succeeded(run, outcome)
        if outcome.changed:
            await self._announce(obj, outcome)
        run.ready_message = f"stored artifact for revision '{outcome.artifact.revision}'"

    def _failed(self, run: _Run, failure: git_errors.GitError) -> Exception:
        """Record ``failure`` in its condition and return the error the skeleton sees."""
        message = str(failure)
        if isinstance(failure, git_errors.VerificationError):
            run.mark(
                source_conditions.SOURCE_VERIFIED_CONDITION,
                "False",
                reason=failure.reason,
                message=message,
            )
            if failure.stalling:
                return results.StallingError(message, reason=failure.reason)
            return results.ReconcileError(message, reason=failure.reason)
        return sourcekit.failure(
            run,
            message,
            reason=failure.reason,
            in_storage=failure.reason in _STORAGE_REASONS,
            stalling=failure.stalling,
        )

    def _succeeded(self, run: _Run, outcome: syncing.Outcome) -> None:
        status = run.status
        spec = run.obj.spec
        run.delete(*_FAILURE_CONDITIONS)
        artifact = outcome.artifact
        if outcome.commit is not None:
            artifact = artifact.model_copy(
                update={
                    "metadata": {
                        **(artifact.metadata or {}),
                        source.ARTIFACT_COMMIT_SUBJECT_KEY: outcome.commit.subject,
                        source.ARTIFACT_COMMIT_AUTHOR_KEY: str(outcome.commit.author),
                    }
                }
            )
        status.artifact = artifact
        status.included_artifacts = list(outcome.included_artifacts) or None
        status.observed_ignore = spec.ignore
        status.observed_recurse_submodules = spec.recurse_submodules
        status.observed_include = spec.include
        status.observed_sparse_checkout = spec.sparse_checkout
        run.mark(
            source_conditions.ARTIFACT_IN_STORAGE_CONDITION,
            "True",
            reason=meta.SUCCEEDED_REASON,
            message=f"stored artifact for revision '{outcome.artifact.revision}'",
        )
        if spec.verify is None:
            status.source_verification_mode = None
            run.delete(source_conditions.SOURCE_VERIFIED_CONDITION)
        elif outcome.verified is not None:
            status.source_verification_mode = verification.normalize_mode(spec.verify.mode)
            run.mark(
                source_conditions.SOURCE_VERIFIED_CONDITION,
                "True",
                reason=meta.SUCCEEDED_REASON,
                message=_verified_message(outcome),
            )

    async def _announce(self, obj: source.GitRepository, outcome: syncing.Outcome) -> None:
        """The audit trail: which commit, by whom, with which subject."""
        commit = outcome.commit
        metadata = {"revision": outcome.artifact.revision, "digest": outcome.artifact.digest}
        message = f"stored artifact for revision '{outcome.artifact.revision}'"
        if commit is not None:
            metadata |= commit.event_metadata()
            message = commit.event_message()
        logging.get_logger().info(
            "stored artifact", revision=outcome.artifact.revision, **_log_fields(metadata)
        )
        await self._recorder.emit(
            objects.dump(obj),
            type_=events.NORMAL,
            reason=source_conditions.NEW_ARTIFACT_EVENT_REASON,
            message=message,
            metadata=metadata,
        )


def _log_fields(metadata: dict[str, str]) -> dict[str, str]:
    return {
        "author": metadata.get("commit.author", ""),
        "subject": metadata.get("commit.subject", ""),
    }


def _verified_message(outcome: syncing.Outcome) -> str:
    """Flux's SourceVerified=True message: what was verified, with which keys."""
    verified = outcome.verified
    assert verified is not None
    commit = outcome.commit.sha if outcome.commit is not None else outcome.artifact.revision
    parts = []
    if verified.tag_signer is not None:
        tag = (outcome.resolved.ref or "").removeprefix("refs/tags/")
        parts.append(f"tag '{tag}' with key '{verified.tag_signer}'")
    if verified.commit_signer is not None:
        parts.append(f"commit '{commit}' with key '{verified.commit_signer}'")
    return "verified signature of " + " and ".join(parts)
