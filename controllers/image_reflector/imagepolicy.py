"""The ImagePolicy reconciler: elect the latest tag of an ImageRepository.

Steps (``ImagePolicyReconciler.steps``; only the meta conditions, derived by
the runtime's summarizer from the error kind):

1. **repository** — the ImageRepository ``spec.imageRepositoryRef`` names
   (the policy's namespace by default). Another namespace must be allowed
   by the repository's ``accessFrom`` (a namespace selector matching the
   policy's namespace labels), else ``AccessDenied`` (retried). A missing
   repository, or one without a scan result or a tag record, is a wait
   (``DependencyNotReady``); the repository's new scan result requeues the
   policy (the informer index ``IMAGE_REPOSITORY_INDEX``).
2. **policy** — compile ``policy`` and ``filterTags`` (``InvalidPolicy``
   stalls), elect among the stored tags (``policies``); none is ``Failure``.
   The per-tag work (filter match, semver key) is memoized per policy
   between elections (``policies.Memo``), so after a scan only new tags cost.
3. **digest** — ``digestReflectionPolicy``: ``Never`` drops the digest;
   ``IfNotPresent`` keeps the digest while the elected tag stays the same
   and reads it from the registry otherwise; ``Always`` reads it on every
   reconcile (every ``spec.interval``). A registry failure is
   ``ReadOperationFailed`` (``AuthenticationFailed`` for refused
   credentials), retried.

A new ``latestRef`` moves the previous one to ``observedPreviousRef`` and
emits a Normal event (``Succeeded``) saying which tag was elected.
"""

from __future__ import annotations

from typing import Any

from controllers.image_reflector import access, policies, tagstore
from shared.api import image, meta, objects
from shared.kube import errors
from shared.oci import errors as oci_errors
from shared.runtime import conditions, events, informers, logging, reconciling, results

SUMMARY = conditions.Summary(owned=(), negative=frozenset())
IMAGE_REPOSITORY_INDEX = "imageRepository"
RESYNC_INTERVAL = 600.0
"""Seconds between reconciles of a policy without ``spec.interval``: a safety net only,
since a new scan result requeues its policies at once."""
DEPENDENCY_RETRY = 30.0
"""Seconds before a policy waiting for its repository looks again (its scan also requeues it)."""

Run = reconciling.Run[image.ImagePolicy, image.ImagePolicyStatus]


def repository_key(obj: dict[str, Any]) -> list[str]:
    """Index function: ``namespace/name`` of the ImageRepository a raw ImagePolicy refers to."""
    ref = (obj.get("spec") or {}).get("imageRepositoryRef") or {}
    namespace = ref.get("namespace") or obj["metadata"].get("namespace")
    return [f"{namespace}/{ref['name']}"] if ref.get("name") else []


def selects(access_from: meta.AccessFrom, labels: dict[str, str]) -> bool:
    """Whether any namespace selector of ``access_from`` matches a namespace's ``labels``."""
    return any(
        all(labels.get(key) == value for key, value in (selector.match_labels or {}).items())
        for selector in access_from.namespace_selectors
    )


class ImagePolicyReconciler:
    """Elects the latest image of each ImagePolicy from the tag store."""

    kind = image.ImagePolicy
    status_type = image.ImagePolicyStatus
    run_type = Run
    summary = SUMMARY

    def __init__(
        self,
        *,
        registries: access.Registries,
        store: tagstore.TagStore,
        repositories: informers.Informer,
        recorder: events.Recorder,
    ) -> None:
        self._registries = registries
        self._store = store
        self._repositories = repositories
        self._recorder = recorder
        self._memos: dict[str, policies.PolicyMemo] = {}
        """Per ImagePolicy (``namespace/name``): per-tag results kept between elections."""
        self.steps: tuple[reconciling.Step[Run], ...] = (reconciling.Step("elect", self._elect),)

    def interval(self, obj: image.ImagePolicy) -> float:
        if obj.spec.interval is None:
            return RESYNC_INTERVAL
        return meta.parse_duration(obj.spec.interval).total_seconds()

    async def finalize(self, obj: image.ImagePolicy) -> None:
        """Forget the policy's memo; it owns no storage."""
        self._memos.pop(f"{obj.metadata.namespace}/{obj.metadata.name}", None)

    async def _namespace_labels(self, namespace: str) -> dict[str, str]:
        try:
            found: dict[str, Any] = await self._registries.api.request(
                "GET", f"/api/v1/namespaces/{namespace}", verb="get"
            )
        except errors.KubeError as failure:
            raise results.ReconcileError(
                f"reading namespace '{namespace}': {failure.message}",
                reason=meta.ACCESS_DENIED_REASON,
            ) from failure
        labels: dict[str, str] = (found.get("metadata") or {}).get("labels") or {}
        return labels

    async def _repository(self, obj: image.ImagePolicy) -> image.ImageRepository:
        namespace = obj.metadata.namespace or "default"
        ref = obj.spec.image_repository_ref
        repo_namespace = ref.namespace or namespace
        raw = self._repositories.get(f"{repo_namespace}/{ref.name}")
        if raw is None:
            raise results.WaitingError(
                f"referenced ImageRepository '{repo_namespace}/{ref.name}' not found",
                reason=meta.DEPENDENCY_NOT_READY_REASON,
                requeue_after=DEPENDENCY_RETRY,
            )
        repository = image.ImageRepository.model_validate(raw)
        if repo_namespace != namespace:
            allowed = repository.spec.access_from is not None and selects(
                repository.spec.access_from, await self._namespace_labels(namespace)
            )
            if not allowed:
                raise results.ReconcileError(
                    f"cannot access ImageRepository '{repo_namespace}/{ref.name}': "
                    f"namespace '{namespace}' is not allowed by its accessFrom",
                    reason=meta.ACCESS_DENIED_REASON,
                )
        return repository

    async def _elect(self, run: Run) -> None:
        obj, status = run.obj, run.status
        repository = await self._repository(obj)
        try:
            policy = policies.compile_policy(obj.spec)
        except policies.InvalidPolicyError as invalid:
            raise results.StallingError(
                str(invalid), reason=image.INVALID_POLICY_REASON
            ) from invalid
        repo_name = f"{repository.metadata.namespace}/{repository.metadata.name}"
        record = self._store.read(
            repository.metadata.namespace or "", repository.metadata.name or ""
        )
        if (
            record is None
            or repository.status is None
            or repository.status.last_scan_result is None
        ):
            raise results.WaitingError(
                f"ImageRepository '{repo_name}' has not been scanned yet",
                reason=meta.DEPENDENCY_NOT_READY_REASON,
                requeue_after=DEPENDENCY_RETRY,
            )
        try:
            memo = self._memos.setdefault(
                f"{obj.metadata.namespace}/{obj.metadata.name}", policies.PolicyMemo()
            )
            tag = policy.latest(record.tags, memo)
        except policies.NoTagError as none:
            raise results.ReconcileError(
                f"cannot determine latest tag for policy: {none}", reason=image.FAILURE_REASON
            ) from none
        latest = image.ImageRef(
            name=repository.spec.image, tag=tag, digest=await self._digest(run, repository, tag)
        )
        previous = status.latest_ref
        if previous != latest:
            if previous is not None and (previous.name, previous.tag) != (latest.name, latest.tag):
                status.observed_previous_ref = previous
            status.latest_ref = latest
        run.ready_message = f"Latest image tag for '{latest.name}' resolved to {tag}"
        if previous is None or (previous.name, previous.tag, previous.digest) != (
            latest.name,
            latest.tag,
            latest.digest,
        ):
            await self._announce(obj, previous, latest)

    async def _digest(self, run: Run, repository: image.ImageRepository, tag: str) -> str | None:
        policy = run.obj.spec.digest_reflection_policy
        previous = run.status.latest_ref
        if policy == "Never":
            return None
        kept = previous is not None and previous.tag == tag and previous.digest
        if policy == "IfNotPresent" and previous is not None and kept:
            return previous.digest
        try:
            ref = access.reference(repository.spec.image)
        except access.InvalidImageError as invalid:
            raise results.ReconcileError(
                str(invalid), reason=image.IMAGE_URL_INVALID_REASON
            ) from invalid
        registry = await self._registries.client(
            repository, ref, request_timeout=access.timeout(repository.spec)
        )
        try:
            descriptor = await registry.head_manifest(ref.repository, tag)
        except oci_errors.RegistryError as failed:
            raise access.failure(
                failed, f"reading the digest of {ref.host}/{ref.repository}:{tag}"
            ) from failed
        return descriptor.digest

    async def _announce(
        self, obj: image.ImagePolicy, previous: image.ImageRef | None, latest: image.ImageRef
    ) -> None:
        if previous is None:
            message = f"Latest image tag for '{latest.name}' resolved to {latest.tag}"
        elif (previous.name, previous.tag) == (latest.name, latest.tag):
            message = (
                f"Latest image digest for '{latest.name}:{latest.tag}' updated from "
                f"{previous.digest or 'none'} to {latest.digest or 'none'}"
            )
        else:
            message = (
                f"Latest image tag for '{latest.name}' updated from {previous.tag} to {latest.tag}"
            )
        logging.get_logger().info(message, image=latest.name, tag=latest.tag)
        await self._recorder.emit(
            objects.dump(obj),
            type_=events.NORMAL,
            reason=meta.SUCCEEDED_REASON,
            message=message,
            metadata={"tag": latest.tag, **({"digest": latest.digest} if latest.digest else {})},
        )
