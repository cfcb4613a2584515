"""The ImageRepository reconciler: list a repository's tags into the tag store.

Steps (``ImageRepositoryReconciler.steps``; the runtime's summarizer derives
Ready/Reconciling/Stalled from the error kind, since these kinds carry only
the meta conditions):

1. **provider** — only ``generic``; a cloud provider stalls with a message
   saying so (Headwater has no cloud identity login);
2. **scan** — parse ``spec.image`` (a scheme, tag or digest stalls with
   ``ImageURLInvalid``) and ``exclusionList`` (a bad regex stalls); then
   nothing more (Ready keeps the last result) unless a scan is due: never
   scanned, the tag store lost the record, a new generation, another
   exclusion list or canonical name, a new ``reconcile.fluxcd.io/requestedAt``,
   or ``interval`` elapsed since ``lastScanResult.scanTime``. A scan builds the connection from the
   Secrets (``AuthenticationFailed`` when they are missing or invalid, and
   when the registry refuses the credentials), lists every tag page by page
   within ``spec.timeout`` (``ReadOperationFailed`` otherwise), drops the
   tags matching ``exclusionList`` (RE2), stores them and records
   ``lastScanResult`` (tagCount, scanTime, latestTags: the ten first in
   descending string order, revision: a checksum of the tag set) and
   ``observedExclusionList`` and ``canonicalImageName``. The requeue
   after a success is the time left until the next scan is due.

Deleting an ImageRepository removes its tag record.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib

from controllers.image_reflector import access, policies, regexes, tagstore
from shared.api import image, meta
from shared.oci import errors as oci_errors
from shared.runtime import conditions, reconciling, results

SUMMARY = conditions.Summary(owned=(), negative=frozenset())
LATEST_TAGS_COUNT = 10
SCAN_SLACK = 0.1
"""The fraction of the interval a requeue may come early and still scan."""
UNSUPPORTED_PROVIDER_MESSAGE = (
    "provider '{provider}' is not supported: Headwater has no cloud identity login; "
    "use 'generic' with a secretRef"
)

Run = reconciling.Run[image.ImageRepository, image.ImageRepositoryStatus]


def latest_tags(tags: list[str]) -> list[str]:
    """Flux's ``latestTags``: the first ten tags in descending string order."""
    return sorted(tags, reverse=True)[:LATEST_TAGS_COUNT]


def revision(tags: list[str]) -> str:
    """An opaque, stable checksum of a tag set (order does not matter)."""
    return hashlib.sha256("\n".join(sorted(tags)).encode()).hexdigest()


def exclusions(patterns: list[str]) -> list[regexes.Regex]:
    """``exclusionList`` compiled (RE2); ``policies.InvalidPolicyError`` for a bad pattern."""
    return [policies.compile_regex(pattern) for pattern in patterns]


def excluded(tags: list[str], compiled: list[regexes.Regex]) -> list[str]:
    """``tags`` without those any of the ``compiled`` exclusions matches (searched)."""
    return [tag for tag in tags if not any(regex.search(tag) for regex in compiled)]


def _elapsed(stamp: str) -> float:
    """Seconds since the RFC 3339 time ``stamp``."""
    then = datetime.datetime.fromisoformat(stamp)
    return (datetime.datetime.now(datetime.UTC) - then).total_seconds()


class ImageRepositoryReconciler:
    """Scans ImageRepositories into ``store``."""

    kind = image.ImageRepository
    status_type = image.ImageRepositoryStatus
    run_type = Run
    summary = SUMMARY

    def __init__(
        self,
        *,
        registries: access.Registries,
        store: tagstore.TagStore,
    ) -> None:
        self._registries = registries
        self._store = store
        self.steps: tuple[reconciling.Step[Run], ...] = (
            reconciling.Step("provider", self._provider),
            reconciling.Step("scan", self._scan),
        )

    def interval(self, obj: image.ImageRepository) -> float:
        """Seconds until the next scan is due: the interval counted from the last scan.

        A reconcile that did not scan (a status or annotation change woke it)
        must not push the next scan a whole interval further.
        """
        period = meta.parse_duration(obj.spec.interval).total_seconds()
        scanned = obj.status.last_scan_result if obj.status is not None else None
        if scanned is None or scanned.scan_time is None:
            return period
        return max(1.0, period - _elapsed(scanned.scan_time))

    async def finalize(self, obj: image.ImageRepository) -> None:
        self._store.remove(obj.metadata.namespace or "default", obj.metadata.name or "")

    async def _provider(self, run: Run) -> None:
        provider = run.obj.spec.provider
        if provider != "generic":
            raise results.StallingError(
                UNSUPPORTED_PROVIDER_MESSAGE.format(provider=provider),
                reason=image.AUTHENTICATION_FAILED_REASON,
            )

    def _due(self, run: Run, canonical: str, record: tagstore.Record | None) -> str | None:
        """Why a scan is due now, or None when the last scan still stands."""
        obj, status = run.obj, run.status
        requested = (obj.metadata.annotations or {}).get(meta.RECONCILE_REQUEST_ANNOTATION)
        scanned = status.last_scan_result
        if record is None or scanned is None or scanned.scan_time is None:
            return "no scan recorded"
        if status.observed_generation != obj.metadata.generation:
            return "new generation"
        if status.observed_exclusion_list != obj.spec.exclusion_list:
            return "exclusion list changed"
        if status.canonical_image_name != canonical:
            return "image changed"
        if requested is not None and requested != record.requested_at:
            return "reconcile requested"
        period = meta.parse_duration(obj.spec.interval).total_seconds()
        # NB: the requeue after a success is jittered by up to 5% either way;
        # a requeue a little early must still scan, or the period doubles.
        if _elapsed(scanned.scan_time) >= period * (1 - SCAN_SLACK):
            return "interval elapsed"
        return None

    async def _scan(self, run: Run) -> None:
        obj, status = run.obj, run.status
        namespace, name = obj.metadata.namespace or "default", obj.metadata.name or ""
        try:
            ref = access.reference(obj.spec.image)
        except access.InvalidImageError as invalid:
            raise results.StallingError(
                str(invalid), reason=image.IMAGE_URL_INVALID_REASON
            ) from invalid
        canonical = access.canonical_name(ref)
        try:
            compiled = exclusions(obj.spec.exclusion_list)
        except policies.InvalidPolicyError as invalid:
            raise results.StallingError(
                f"invalid exclusionList: {invalid}", reason=image.READ_OPERATION_FAILED_REASON
            ) from invalid
        record = self._store.read(namespace, name)
        if self._due(run, canonical, record) is None:
            count = status.last_scan_result.tag_count if status.last_scan_result else 0
            run.ready_message = f"successful scan: found {count} tags"
            return
        status.canonical_image_name = canonical
        run.progress(f"scanning {canonical}")
        timeout = access.timeout(obj.spec)
        registry = await self._registries.client(obj, ref, request_timeout=timeout)
        try:
            async with asyncio.timeout(timeout):
                tags = await registry.list_tags(ref.repository)
        except oci_errors.RegistryError as failed:
            raise access.failure(failed, f"listing tags of {canonical}") from failed
        except TimeoutError as late:
            raise results.ReconcileError(
                f"listing tags of {canonical} timed out after {timeout:g}s",
                reason=image.READ_OPERATION_FAILED_REASON,
            ) from late
        kept = excluded(tags, compiled)
        requested = (obj.metadata.annotations or {}).get(meta.RECONCILE_REQUEST_ANNOTATION)
        try:
            self._store.write(namespace, name, tagstore.Record(tags=kept, requested_at=requested))
        except OSError as failure:
            raise results.ReconcileError(
                f"storing the tags of {canonical}: {failure}",
                reason=image.READ_OPERATION_FAILED_REASON,
            ) from failure
        status.last_scan_result = image.ScanResult(
            revision=revision(kept),
            tag_count=len(kept),
            scan_time=conditions.now(),
            latest_tags=latest_tags(kept) or None,
        )
        status.observed_exclusion_list = list(obj.spec.exclusion_list)
        run.ready_message = f"successful scan: found {len(kept)} tags"
