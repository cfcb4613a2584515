"""The Bucket reconciler: an object storage bucket in, an artifact in storage out.

Steps (``BucketReconciler.steps``):

1. **source** — the provider's client from the spec and its Secrets
   (``connecting``: S3 for ``generic``/``aws``, the GCS JSON API for
   ``gcp``, the Blob service for ``azure``); a missing or malformed Secret is
   ``FetchFailed``/``AuthenticationFailed``, a spec Headwater cannot serve
   (cloud workload identity, unsupported STS or Azure credential kinds)
   stalls. Then the bucket listed (paginated, under ``prefix``); the
   ``.sourceignore`` object, ``spec.ignore`` and the default exclusions drop
   keys. The revision is Flux's: the sha256 of the sorted ``<key> <etag>\\n``
   lines of the index (``sha256:<hex>``). Same revision, same ignore rules
   and the artifact in storage: nothing is downloaded or written. Otherwise
   ``ArtifactOutdated`` and progress; only the objects whose ETag changed
   since the last stored index (``indexes``, kept beside the artifacts, so
   also after a restart) are downloaded (the rest come from the previous
   artifact), the tree is archived, garbage collected and a ``NewArtifact``
   event emitted. Storage API failures are
   ``FetchFailed``/``BucketOperationFailed``; storage failures
   ``StorageOperationFailed``.

Deleting a Bucket removes its storage directory.
"""

from __future__ import annotations

import asyncio
import hashlib
import pathlib
import posixpath
import shutil
import tempfile

from controllers.source import sourcekit
from controllers.source.bucket import clients, connecting, indexes
from shared.api import meta, objects, source, source_conditions
from shared.artifacts import errors as artifact_errors
from shared.artifacts import extracting, ignoring, storage
from shared.kube import client
from shared.runtime import events, logging, reconciling

IGNORE_FILE = ".sourceignore"
MAX_CONCURRENT_FETCHES = 16
"""Object downloads in flight per Bucket (Flux allows 100; this bounds threads and sockets)."""
SUMMARY = sourcekit.ARTIFACT_SUMMARY
_FAILURE_CONDITIONS = (
    source_conditions.FETCH_FAILED_CONDITION,
    source_conditions.STORAGE_OPERATION_FAILED_CONDITION,
    source_conditions.ARTIFACT_OUTDATED_CONDITION,
)

Run = reconciling.Run[source.Bucket, source.BucketStatus]


def index_revision(index: dict[str, str]) -> str:
    """Flux's Bucket revision: sha256 of the sorted ``<key> <etag>\\n`` lines."""
    digest = hashlib.sha256()
    for key in sorted(index):
        digest.update(f"{key} {index[key]}\n".encode())
    return f"sha256:{digest.hexdigest()}"


class BucketReconciler:
    """Reconciles Buckets into artifacts in ``store``."""

    kind = source.Bucket
    status_type = source.BucketStatus
    run_type = Run
    summary = SUMMARY

    def __init__(
        self, *, api: client.Client, store: storage.Storage, recorder: events.Recorder
    ) -> None:
        self._api = api
        self._store = store
        self._recorder = recorder
        self._indexes: dict[str, tuple[str, dict[str, str]]] = {}
        """Per object: the artifact path last stored and the index it was built from."""
        self.steps: tuple[reconciling.Step[Run], ...] = (
            reconciling.Step(
                "artifact",
                self._artifact,
                owns=(*_FAILURE_CONDITIONS, source_conditions.ARTIFACT_IN_STORAGE_CONDITION),
            ),
        )

    def interval(self, obj: source.Bucket) -> float:
        return sourcekit.interval(obj)

    async def finalize(self, obj: source.Bucket) -> None:
        self._indexes.pop(str(sourcekit.object_key(obj).directory()), None)
        await self._store.remove_object(sourcekit.object_key(obj))

    async def _artifact(self, run: Run) -> None:
        obj, status = run.obj, run.status
        key = sourcekit.object_key(obj)
        with tempfile.TemporaryDirectory(prefix="bucket-") as scratch:
            tree = pathlib.Path(scratch) / "tree"
            tree.mkdir()
            try:
                bucket = await connecting.connect(self._api, obj)
            except connecting.ConnectError as failed:
                raise sourcekit.failure(
                    run, str(failed), reason=failed.reason, in_storage=False,
                    stalling=failed.stalling,
                ) from failed  # fmt: skip
            try:
                listed = await bucket.list(obj.spec.prefix)
                # NB: read from the bucket's root whatever the prefix, as Flux does.
                await bucket.download(
                    IGNORE_FILE, pathlib.Path(scratch) / IGNORE_FILE, optional=True
                )
                matcher = _matcher(pathlib.Path(scratch) / IGNORE_FILE, obj.spec.ignore)
                index = {
                    k: etag
                    for k, etag in listed.items()
                    if not k.endswith("/") and k != IGNORE_FILE and not matcher(k, False)
                }
                revision = index_revision(index)
                artifact = status.artifact
                if (
                    artifact is not None
                    and artifact.revision == revision
                    and status.observed_ignore == obj.spec.ignore
                    and self._store.exists(artifact)
                ):
                    run.ready_message = f"stored artifact for revision '{revision}'"
                    return
                run.revision = revision
                if artifact is not None:
                    run.mark(
                        source_conditions.ARTIFACT_OUTDATED_CONDITION,
                        "True",
                        reason=source_conditions.NEW_REVISION_REASON,
                        message=f"new upstream revision '{revision}'",
                    )
                run.progress(f"building artifact: new upstream revision '{revision}'", restart=True)
                vanished = await self._download(bucket, key, index, tree)
                if vanished:
                    # NB: as Flux, an object deleted since the listing leaves the index,
                    # and the revision is that of what was fetched.
                    for name in vanished:
                        logging.get_logger().info(
                            f"indexed object '{name}' disappeared from "
                            f"'{obj.spec.bucket_name}' bucket"
                        )
                        del index[name]
                    revision = run.revision = index_revision(index)
            except clients.BucketError as failed:
                raise sourcekit.failure(
                    run,
                    str(failed),
                    reason=source_conditions.BUCKET_OPERATION_FAILED_REASON,
                    in_storage=False,
                    stalling=False,
                ) from failed
            finally:
                await bucket.close()
            try:
                async with self._store.lock(key):
                    stored = await self._store.archive(key, source=tree, revision=revision)
                    await self._store.garbage_collect(stored)
                    await indexes.save(self._store, key, stored.path, index)
            except artifact_errors.ArtifactError as failed:
                raise sourcekit.failure(
                    run,
                    f"storing {revision}: {failed}",
                    reason=source_conditions.ARCHIVE_OPERATION_FAILED_REASON,
                    in_storage=True,
                    stalling=False,
                ) from failed
        self._indexes[key.directory()] = (stored.path, index)
        run.delete(*_FAILURE_CONDITIONS)
        status.artifact = stored
        status.observed_ignore = obj.spec.ignore
        status.url = self._store.url_for(f"{key.directory()}/latest.tar.gz")
        await self._store.symlink(stored, "latest.tar.gz")
        message = f"stored artifact for revision '{revision}'"
        run.mark(
            source_conditions.ARTIFACT_IN_STORAGE_CONDITION,
            "True",
            reason=meta.SUCCEEDED_REASON,
            message=message,
        )
        run.ready_message = message
        logging.get_logger().info("stored artifact", revision=revision, objects=len(index))
        await self._recorder.emit(
            objects.dump(obj),
            type_=events.NORMAL,
            reason=source_conditions.NEW_ARTIFACT_EVENT_REASON,
            message=(
                f"stored artifact with {len(index)} fetched files "
                f"from '{obj.spec.bucket_name}' bucket"
            ),
            metadata={"revision": revision, "digest": stored.digest},
        )

    async def _download(
        self,
        bucket: clients.Client,
        key: storage.ObjectKey,
        index: dict[str, str],
        tree: pathlib.Path,
    ) -> set[str]:
        """Fill ``tree`` with the indexed objects, downloading only the changed ones.

        Downloads run ``MAX_CONCURRENT_FETCHES`` at a time. Returns the keys that
        no longer exist in the bucket.
        """
        previous_path, previous = self._indexes.get(key.directory()) or await indexes.load(
            self._store, key
        )
        unchanged = {k for k, etag in index.items() if previous.get(k) == etag}
        if unchanged and self._store.local_path(previous_path).is_file():
            old = tree.parent / "previous"
            await asyncio.to_thread(extracting.extract, self._store.local_path(previous_path), old)
            for name in unchanged:
                if (local_path(old, name)).is_file():
                    local_path(tree, name).parent.mkdir(parents=True, exist_ok=True)
                    await asyncio.to_thread(
                        shutil.copyfile, local_path(old, name), local_path(tree, name)
                    )
        limit = asyncio.Semaphore(MAX_CONCURRENT_FETCHES)
        vanished: set[str] = set()

        async def fetch(name: str) -> None:
            async with limit:
                if not await bucket.download(name, local_path(tree, name), optional=True):
                    vanished.add(name)

        wanted = [n for n in sorted(index) if not local_path(tree, n).is_file()]
        try:
            async with asyncio.TaskGroup() as group:
                for name in wanted:
                    group.create_task(fetch(name))
        except ExceptionGroup as failed:
            # NB: the first failure is the one to report; the group cancelled the rest.
            raise failed.exceptions[0] from None
        return vanished


def local_path(tree: pathlib.Path, key: str) -> pathlib.Path:
    """Where object ``key`` goes under ``tree``: ``..`` and a leading ``/`` cannot leave it.

    As Flux's secure join, the key is cleaned as if ``tree`` were the root, so
    ``../../etc/x`` lands at ``tree/etc/x``.
    """
    cleaned = posixpath.normpath("/" + key).lstrip("/")
    if not cleaned or cleaned == ".":
        raise clients.BucketError(f"failed to resolve path for '{key}' object")
    return tree.joinpath(*cleaned.split("/"))


def _matcher(ignore_file: pathlib.Path, spec_ignore: str | None) -> ignoring.Matcher:
    """Default exclusions, then the bucket's ``.sourceignore``, then ``spec.ignore``."""
    patterns = ignoring.default_patterns()
    if ignore_file.is_file():
        patterns.extend(ignoring.parse_patterns(ignore_file.read_text()))
    if spec_ignore is not None:
        patterns.extend(ignoring.parse_patterns(spec_ignore))
    return ignoring.Matcher(patterns)
