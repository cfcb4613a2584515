"""The HelmRepository reconciler: an HTTP chart repository's index as an artifact.

Steps (``HelmRepositoryReconciler.steps``):

1. **index** — ``type: oci``: the object only carries a registry URL and
   credentials for HelmCharts; the URL must be ``oci://`` and ``provider``
   ``generic`` (a cloud provider stalls with ``InvalidProviderConfiguration``);
   any artifact from a former ``type: default`` is removed and the object is
   Ready. ``type: default``: read ``secretRef``/``certSecretRef`` (a missing
   or unusable Secret is ``FetchFailed``/``AuthenticationFailed``), GET
   ``index.yaml`` — conditional on the last ETag, and compared by digest — so
   an unchanged index costs one request and no parse. A new index is checked
   in a thread (``--helm-index-max-size`` enforced while it streams), and
   ``ArtifactOutdated``/``NewRevision`` is marked while it is stored.
2. **artifact** — the index stored as fetched in ``index-<hex>.yaml`` with
   Flux's revision (``sha256:<digest of the fetched index>``, so the
   artifact's digest equals it; Flux stores a JSON rewrite instead, see
   ``helm.indexes`` for why this one is read lazily), the ``index.yaml``
   symlink as ``status.url``, superseded artifacts garbage-collected, a
   ``NewArtifact`` event ("stored fetched index of size … from '<url>'").

A failed fetch keeps the last artifact (its file stays served). Deleting a
HelmRepository removes its storage directory.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import aiohttp

from controllers.source import sourcekit
from controllers.source.helm import clients, errors, indexes
from shared.api import meta, objects, source, source_conditions
from shared.artifacts import errors as storage_errors
from shared.artifacts import staging, storage
from shared.kube import client, references
from shared.oci import credentials as oci_credentials
from shared.oci import errors as oci_errors
from shared.oci import transport
from shared.runtime import events, logging, reconciling, results

SUMMARY = sourcekit.ARTIFACT_SUMMARY
DEFAULT_INTERVAL = 60.0
"""Flux requeues a HelmRepository without an interval after a minute."""
DEFAULT_TIMEOUT = 60.0
INDEX_LINK = "index.yaml"
OCI_READY_MESSAGE = "Helm repository is ready"
DOCKER_CONFIG_KEY = ".dockerconfigjson"


@dataclasses.dataclass(frozen=True)
class Limits:
    """``--helm-index-max-size``."""

    index_max_size: int = 50 << 20


@dataclasses.dataclass(eq=False, kw_only=True)
class _Run(reconciling.Run[source.HelmRepository, source.HelmRepositoryStatus]):
    """One reconcile; the index step sets what the artifact step stores."""

    oci: bool = False
    fetched: bytes | None = None
    """A new index to store, as fetched (None: the stored one is current)."""
    fetched_revision: str | None = None
    fetched_size: int = 0
    url: str = ""


def storage_key(obj: source.HelmRepository) -> storage.ObjectKey:
    return storage.ObjectKey(
        kind="HelmRepository",
        namespace=obj.metadata.namespace or "default",
        name=obj.metadata.name or "",
    )


async def _secret(
    api: client.Client, obj: source.HelmRepository, ref: meta.LocalObjectReference | None
) -> dict[str, bytes] | None:
    if ref is None:
        return None
    namespace = obj.metadata.namespace or "default"
    try:
        return await references.secret_data(api, namespace, ref.name)
    except references.ReferenceNotFoundError as missing:
        raise errors.AuthError(
            f"failed to get secret '{namespace}/{ref.name}': {missing.message}"
        ) from missing


def _timeout(obj: source.HelmRepository) -> float:
    timeout = obj.spec.timeout
    return meta.parse_duration(timeout).total_seconds() if timeout else DEFAULT_TIMEOUT


async def client_options(api: client.Client, obj: source.HelmRepository) -> clients.ClientOptions:
    """The HTTP options of ``obj`` from its Secrets (``errors.HelmError`` when unusable)."""
    spec = obj.spec
    url = clients.normalize_url(spec.url)
    options = clients.options_for(
        url,
        secret=await _secret(api, obj, spec.secret_ref),
        cert_secret=await _secret(api, obj, spec.cert_secret_ref),
        pass_credentials=bool(spec.pass_credentials),
        timeout=_timeout(obj),
    )
    if options.deprecated_tls:
        logging.get_logger().info(
            "warning: specifying TLS authentication data via `.spec.secretRef` is deprecated,"
            " please use `.spec.certSecretRef` instead"
        )
    return options


async def registry_connection(
    api: client.Client, obj: source.HelmRepository, host: str
) -> transport.Connection:
    """How to reach the registry of OCI HelmRepository ``obj`` (``errors.HelmError`` when unusable).

    ``secretRef`` is a ``kubernetes.io/dockerconfigjson`` Secret (its entry
    for ``host``) or ``username``/``password``; ``certSecretRef`` gives
    ``ca.crt`` and ``tls.crt``/``tls.key``; ``insecure`` means plain HTTP.
    """
    secret = await _secret(api, obj, obj.spec.secret_ref)
    found = None
    if secret is not None and DOCKER_CONFIG_KEY in secret:
        try:
            found = oci_credentials.from_dockerconfigjson(secret[DOCKER_CONFIG_KEY], host)
        except oci_errors.ConfigurationError as invalid:
            raise errors.AuthError(str(invalid)) from invalid
        secret = None
    options = clients.options_for(
        f"https://{host}",
        secret=secret,
        cert_secret=await _secret(api, obj, obj.spec.cert_secret_ref),
        timeout=_timeout(obj),
    )
    if options.username is not None:
        found = oci_credentials.Credentials(
            username=options.username, password=options.password or ""
        )
    return transport.Connection(
        host=host,
        plain_http=bool(obj.spec.insecure),
        ssl_context=options.ssl_context,
        credentials=found,
        timeout=options.timeout,
    )


def human_size(size: int) -> str:
    """Size as Docker's ``units.HumanSize`` writes it (4 significant digits, SI units)."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.4g}{unit}"
        value /= 1000
    raise AssertionError("unreachable")


async def store_artifact(
    store: storage.Storage,
    run: reconciling.Run[Any, Any],
    key: storage.ObjectKey,
    *,
    data: bytes,
    filename: str,
    revision: str,
    link: str,
    failure: str,
    staged: staging.Staged | None = None,
) -> meta.Artifact:
    """Store ``data`` as the object's artifact, link it, collect superseded ones.

    ``staged``: ``data`` written already, with its digest (``Storage.commit``:
    one rename); the staged file is discarded if storing fails.

    Sets ``status.artifact`` and ``status.url``. A storage failure marks
    ``StorageOperationFailed``/``ArchiveOperationFailed`` with ``failure: <cause>``
    (the step must own that condition) and raises the reconcile error.
    """
    try:
        async with store.lock(key):
            if staged is None:
                artifact = await store.store_bytes(
                    key, data=data, filename=filename, revision=revision
                )
            else:
                artifact = await store.commit(key, staged, filename=filename, revision=revision)
            run.status.url = await store.symlink(artifact, link)
            run.status.artifact = artifact
            deleted = await store.garbage_collect(artifact)
    except storage_errors.StorageError as failed:
        if staged is not None:
            await asyncio.to_thread(staged.discard)
        raise sourcekit.failure(
            run,
            f"{failure}: {failed}",
            reason=source_conditions.ARCHIVE_OPERATION_FAILED_REASON,
            in_storage=True,
            stalling=False,
        ) from failed
    if deleted:
        logging.get_logger().info("garbage collected artifacts", files=deleted)
    return artifact


class HelmRepositoryReconciler:
    """Reconciles HelmRepositories into index artifacts in ``store``."""

    kind = source.HelmRepository
    status_type = source.HelmRepositoryStatus
    run_type = _Run
    summary = SUMMARY

    def __init__(
        self,
        *,
        api: client.Client,
        store: storage.Storage,
        recorder: events.Recorder,
        session: aiohttp.ClientSession,
        limits: Limits = Limits(),
    ) -> None:
        self._api = api
        self._store = store
        self._recorder = recorder
        self._session = session
        self._limits = limits
        self._etags: dict[storage.ObjectKey, tuple[str, str, str]] = {}
        """The last ETag per object, with the revision and the URL it was seen for."""
        self.steps: tuple[reconciling.Step[_Run], ...] = (
            reconciling.Step(
                "index",
                self._index,
                owns=(
                    source_conditions.FETCH_FAILED_CONDITION,
                    source_conditions.ARTIFACT_OUTDATED_CONDITION,
                ),
            ),
            reconciling.Step(
                "artifact",
                self._artifact,
                owns=(
                    source_conditions.STORAGE_OPERATION_FAILED_CONDITION,
                    source_conditions.ARTIFACT_IN_STORAGE_CONDITION,
                ),
            ),
        )

    def interval(self, obj: source.HelmRepository) -> float:
        if obj.spec.interval:
            return meta.parse_duration(obj.spec.interval).total_seconds()
        return DEFAULT_INTERVAL

    async def finalize(self, obj: source.HelmRepository) -> None:
        self._etags.pop(storage_key(obj), None)
        await self._store.remove_object(storage_key(obj))

    def _fail(self, run: _Run, failure: errors.HelmError) -> Exception:
        run.mark(
            source_conditions.FETCH_FAILED_CONDITION,
            "True",
            reason=failure.reason,
            message=failure.message,
        )
        if failure.stalling:
            return results.StallingError(failure.message, reason=failure.reason)
        return results.ReconcileError(failure.message, reason=failure.reason)

    async def _index(self, run: _Run) -> None:
        obj = run.obj
        if obj.spec.type == "oci":
            await self._oci(run)
            return
        try:
            options = await client_options(self._api, obj)
            run.url = options.url
            current = run.status.artifact
            stored = current is not None and self._store.exists(current)
            known = self._etags.get(storage_key(obj))
            # NB: an ETag holds only for the URL it came from and the revision stored.
            usable = known and stored and current and known[1:] == (current.revision, run.url)
            etag = known[0] if known and usable else None
            response = await clients.fetch_index(
                self._session, options, etag=etag, max_size=self._limits.index_max_size
            )
        except errors.HelmError as failure:
            if not isinstance(failure, (errors.InvalidUrlError, errors.AuthError)):
                failure = errors.FetchError(
                    f"failed to fetch Helm repository index: {failure.message}"
                )
            raise self._fail(run, failure) from failure
        run.delete(source_conditions.FETCH_FAILED_CONDITION)
        if response.not_modified or (stored and current and current.revision == response.digest):
            if current is not None and response.etag:
                self._etags[storage_key(obj)] = (response.etag, current.revision, run.url)
            run.revision = current.revision if current else None
            return
        assert response.body is not None
        assert response.digest is not None
        try:
            await asyncio.to_thread(indexes.parse, response.body)
        except errors.HelmError as failure:
            raise self._fail(run, failure) from failure
        run.fetched = response.body
        run.fetched_revision = run.revision = response.digest
        run.fetched_size = len(response.body)
        if response.etag:
            self._etags[storage_key(obj)] = (response.etag, response.digest, run.url)
        message = f"new index revision '{response.digest}'"
        if current is not None:
            run.mark(
                source_conditions.ARTIFACT_OUTDATED_CONDITION,
                "True",
                reason=source_conditions.NEW_REVISION_REASON,
                message=message,
            )
        run.progress(f"building artifact: {message}", restart=True)

    async def _oci(self, run: _Run) -> None:
        obj = run.obj
        if not obj.spec.url.startswith("oci://"):
            raise self._fail(
                run,
                errors.InvalidUrlError(
                    f"invalid OCI registry URL '{obj.spec.url}': the scheme must be 'oci'"
                ),
            )
        if obj.spec.provider not in (None, "generic"):
            # NB: aws, azure and gcp fetch registry tokens from cloud identity
            # services, which Headwater does not implement yet: say so.
            message = f"provider '{obj.spec.provider}' is not supported; use 'generic'"
            run.mark(
                source_conditions.FETCH_FAILED_CONDITION,
                "True",
                reason=source_conditions.INVALID_PROVIDER_CONFIGURATION_REASON,
                message=message,
            )
            raise results.StallingError(
                message, reason=source_conditions.INVALID_PROVIDER_CONFIGURATION_REASON
            )
        run.delete(
            source_conditions.FETCH_FAILED_CONDITION, source_conditions.ARTIFACT_OUTDATED_CONDITION
        )
        run.oci = True

    async def _artifact(self, run: _Run) -> None:
        obj = run.obj
        status = run.status
        if run.oci:
            # An OCI repository has no index: drop what a former type: default stored.
            if status.artifact is not None:
                await self._store.remove_object(storage_key(obj))
            status.artifact = None
            status.url = None
            run.delete(
                source_conditions.STORAGE_OPERATION_FAILED_CONDITION,
                source_conditions.ARTIFACT_IN_STORAGE_CONDITION,
            )
            run.ready_message = OCI_READY_MESSAGE
            return
        if run.fetched is not None:
            assert run.fetched_revision is not None
            await self._store_index(run, run.fetched, run.fetched_revision)
        assert status.artifact is not None
        message = f"stored artifact: revision '{status.artifact.revision}'"
        run.delete(
            source_conditions.STORAGE_OPERATION_FAILED_CONDITION,
            source_conditions.ARTIFACT_OUTDATED_CONDITION,
        )
        run.mark(
            source_conditions.ARTIFACT_IN_STORAGE_CONDITION,
            "True",
            reason=meta.SUCCEEDED_REASON,
            message=message,
        )
        run.ready_message = message

    async def _store_index(self, run: _Run, data: bytes, revision: str) -> None:
        obj = run.obj
        key = storage_key(obj)
        hex_digest = revision.split(":", 1)[1]
        artifact = await store_artifact(
            self._store,
            run,
            key,
            data=data,
            filename=f"index-{hex_digest}.yaml",
            revision=revision,
            link=INDEX_LINK,
            failure="unable to save artifact to storage",
        )
        message = f"stored fetched index of size {human_size(run.fetched_size)} from '{run.url}'"
        logging.get_logger().info(message, revision=revision)
        await self._recorder.emit(
            objects.dump(obj),
            type_=events.NORMAL,
            reason=source_conditions.NEW_ARTIFACT_EVENT_REASON,
            message=message,
            metadata={"revision": revision, "digest": artifact.digest},
        )
