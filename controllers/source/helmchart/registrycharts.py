"""HelmCharts from OCI HelmRepositories, and chart dependencies kept in registries.

``RegistryCharts.build(obj, repository, cached=)`` does what Flux's remote
builder does with an OCI chart repository:

1. the registry connection from the HelmRepository's Secrets
   (``helmrepository.registry_connection``);
2. the version: exact versions as given, ranges against the tag list
   (``helm.registries.resolve_version``);
3. ``spec.verify`` (every reconcile, as Flux does): the tag's digest (one
   ``HEAD``) and a cosign signature of that digest made with one of the keys
   of ``verify.secretRef`` (``ocirepository.cosign``); the chart is then pulled
   by that digest, so what is stored is what was verified. Keyless cosign and
   Notation raise ``UnsupportedVerificationError`` (stalling);
4. nothing more when ``cached(name, version)`` says the stored artifact is
   this build (its values files: ``cached_values_files``); otherwise the
   chart layer is pulled and kept byte for byte — written to storage as it
   arrives (``Build.staged``, committed by the artifact step) — or packaged
   again with values files (``building.from_download``).

``dependency(namespace, url, name, version)`` fetches a dependency from
``oci://`` ``url`` with the credentials of the OCI HelmRepository of that URL
in ``namespace``, anonymously over TLS when there is none (as Flux does).

A URL that is not ``oci://`` stalls (``ClientConfigError``: "failed to
construct Helm client: invalid OCI registry URL: …"). Registry failures
become ``helm.errors`` here, in one place: refused
credentials and TLS failures are ``AuthError`` ("failed to authenticate with
the Helm repository: …", ``AuthenticationFailed``), the rest ``BuildError``
(``ChartPullError``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import aiohttp

from controllers.source import sourcekit
from controllers.source.helm import charts, errors, registries
from controllers.source.helmchart import building, repositorycharts
from controllers.source.helmrepository import reconciler as helmrepository
from controllers.source.ocirepository import cosign
from shared.api import source
from shared.artifacts import errors as storage_errors
from shared.artifacts import storage
from shared.kube import client, references
from shared.oci import client as oci_client
from shared.oci import errors as oci_errors
from shared.oci import tokens, transport

ANONYMOUS_TIMEOUT = 60.0


@contextlib.asynccontextmanager
async def _translated(url: str) -> AsyncIterator[None]:
    """Registry failures while working on ``url`` as ``helm.errors``."""
    try:
        yield
    except oci_errors.UnauthorizedError as refused:
        raise errors.AuthError(
            f"failed to authenticate with the Helm repository: failed to get '{url}': {refused}"
        ) from refused
    except oci_errors.TooLargeError as large:
        raise errors.BuildError(
            errors.CHART_PULL, f"failed to download chart for remote reference: {large}"
        ) from large
    except oci_errors.RegistryError as failure:
        text = str(failure)
        if isinstance(failure, oci_errors.TransportError) and "certificate" in text.lower():
            raise errors.AuthError(
                f"failed to authenticate with the Helm repository: failed to get '{url}': {text}"
            ) from failure
        raise errors.BuildError(
            errors.CHART_PULL,
            f"failed to download chart for remote reference: failed to get '{url}': {text}",
        ) from failure


class RegistryCharts:
    """Charts from OCI registries (see the module docstring)."""

    def __init__(
        self,
        *,
        api: client.Client,
        session: aiohttp.ClientSession,
        store: storage.Storage,
        repositories: Callable[[], Iterable[dict[str, Any]]],
        limits: charts.Limits,
    ) -> None:
        self._api = api
        self._store = store
        self._session = session
        self._repositories = repositories
        self._limits = limits
        self._tokens = tokens.TokenCache()

    async def _client(
        self, repository: source.HelmRepository, location: registries.Location
    ) -> oci_client.Client:
        connection = await helmrepository.registry_connection(self._api, repository, location.host)
        return oci_client.Client(self._session, connection, token_cache=self._tokens)

    async def build(
        self,
        obj: source.HelmChart,
        repository: source.HelmRepository,
        *,
        cached: Callable[[str, str], bool],
        cached_values_files: list[str] | None = None,
    ) -> building.Build:
        """The build of ``obj``'s chart from OCI HelmRepository ``repository``."""
        try:
            location = registries.parse_url(repository.spec.url)
        except errors.InvalidUrlError as invalid:
            raise errors.ClientConfigError(
                f"failed to construct Helm client: {invalid.message}"
            ) from invalid
        oci = await self._client(repository, location)
        chart = obj.spec.chart
        async with _translated(location.url(chart)):
            version = await registries.resolve_version(oci, location, chart, obj.spec.version)
        url = location.url(chart, version)
        reference = version
        verified = False
        if obj.spec.verify is not None:
            keys = await self._keys(obj, obj.spec.verify)
            async with _translated(url):
                reference = await registries.digest_of(oci, location, chart, version)
                try:
                    await cosign.verify(oci, location.repository(chart), reference, keys)
                except cosign.VerificationError as refused:
                    raise errors.BuildError(
                        errors.CHART_VERIFICATION, f"failed to verify {url}: {refused}"
                    ) from refused
            verified = True
        build_metadata = building.version_metadata(obj, "")
        target = building.target_version(version, build_metadata)
        if cached(chart, target):
            return building.unchanged(
                obj,
                chart,
                target,
                packaged=bool(build_metadata),
                cached_values_files=cached_values_files,
                verified=verified,
            )
        async with _translated(url):
            build = await self._pull(obj, oci, location, reference, version, build_metadata)
        build.verified = verified
        return build

    async def _pull(
        self,
        obj: source.HelmChart,
        oci: oci_client.Client,
        location: registries.Location,
        reference: str,
        version: str,
        build_metadata: str,
    ) -> building.Build:
        """The chart layer, built in the thread that inflates it as it arrives.

        A chart kept byte for byte is written to storage in that same pass
        (``Build.staged``); one packaged again is not (its bytes change).
        """
        chart, limits = obj.spec.chart, self._limits
        staged = None if build_metadata else self._store.stage(sourcekit.object_key(obj))

        def load(pulled: registries.Pulled) -> building.Build:
            build = building.from_download(
                obj,
                pulled.data,
                name=chart,
                version=version,
                build_metadata=build_metadata,
                limits=limits,
                tar=pulled.tar,
            )
            if staged is not None:
                staged.digest = pulled.layer_digest
                build.staged = staged
            return build

        try:
            return await registries.pull_then(
                oci,
                location,
                chart,
                reference,
                limits=limits,
                then=load,
                sink=None if staged is None else staged.write,
            )
        except BaseException as failure:
            if staged is not None:
                await asyncio.to_thread(staged.discard)
            if isinstance(failure, storage_errors.StorageError):
                # NB: Flux's wording when it cannot write the pulled chart to a file.
                raise errors.BuildError(
                    errors.CHART_PULL, f"failed to write chart to file: {failure}"
                ) from failure
            raise

    async def _keys(
        self, obj: source.HelmChart, verify: source.HelmChartVerification
    ) -> dict[str, cosign.PublicKey]:
        """The trusted cosign keys of ``verify.secretRef``."""
        why = cosign.unsupported(verify)
        if why is not None or verify.secret_ref is None:
            raise errors.UnsupportedVerificationError(
                f"failed to verify the signature using provider '{verify.provider}': {why}"
            )
        namespace = obj.metadata.namespace or "default"
        try:
            secret = await references.secret_data(self._api, namespace, verify.secret_ref.name)
            return cosign.load_keys(secret)
        except (references.ReferenceNotFoundError, cosign.VerificationError) as failure:
            raise errors.VerificationError(
                f"failed to verify the signature using provider 'cosign': {failure}"
            ) from failure

    async def dependency(self, namespace: str, url: str, name: str, version: str) -> bytes:
        """Chart ``name`` in the range ``version`` from the registry location ``url``."""
        location = registries.parse_url(url)
        repository = next(
            (
                source.HelmRepository.model_validate(raw)
                for raw in self._repositories()
                if raw["metadata"].get("namespace") == namespace
                and repositorycharts.is_oci(raw)
                and str((raw.get("spec") or {}).get("url", "")).rstrip("/") == url.rstrip("/")
            ),
            None,
        )
        if repository is not None:
            oci = await self._client(repository, location)
        else:
            anonymous = transport.Connection(host=location.host, timeout=ANONYMOUS_TIMEOUT)
            oci = oci_client.Client(self._session, anonymous, token_cache=self._tokens)
        async with _translated(location.url(name, version)):
            resolved = await registries.resolve_version(oci, location, name, version)
            pulled = await registries.pull(oci, location, name, resolved, limits=self._limits)
        return pulled.data
