"""From an ImageRepository's spec and Secrets to a registry connection.

Contract: ``reference(spec.image)`` parses the image (no scheme, tag or
digest) or raises ``InvalidImageError``; ``connection(api, obj, ref)``
reads ``secretRef`` (``.dockerconfigjson``), the ServiceAccount's
``imagePullSecrets`` (``serviceAccountName``), ``certSecretRef``
(``ca.crt``, ``tls.crt``, ``tls.key``) and ``proxySecretRef``
(``address``, ``username``, ``password``) and returns a
``transport.Connection``, or raises ``AccessError`` (a missing Secret or
invalid content: Flux's ``AuthenticationFailed``, retried).

The secretRef credentials win over the ServiceAccount's; within the
ServiceAccount the first pull secret with an entry for the host wins.

``Registries.client(obj, ref, …)`` is what both reconcilers call: the
connection made into a ``shared.oci`` client, its failures as the
``results.ReconcileError`` Flux's reasons name; ``failure(error, …)``
translates what a registry call raised the same way.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import aiohttp
from yarl import URL

from shared.api import image, meta
from shared.kube import client, errors, references
from shared.oci import client as oci_client
from shared.oci import credentials, tls, tokens, transport
from shared.oci import errors as oci_errors
from shared.oci import references as oci_references
from shared.runtime import results

DOCKERCONFIGJSON_KEY = ".dockerconfigjson"


class InvalidImageError(ValueError):
    """spec.image cannot be scanned as written."""


class AccessError(Exception):
    """Credentials, TLS or proxy settings could not be built."""


def reference(text: str) -> oci_references.Reference:
    """The repository ``text`` names; a scheme, a tag or a digest is refused as Flux does."""
    if "://" in text:
        raise InvalidImageError(f"image '{text}' must not have a scheme")
    try:
        ref = oci_references.parse(text)
    except oci_errors.InvalidReferenceError as error:
        raise InvalidImageError(str(error)) from error
    if ref.tag or ref.digest:
        raise InvalidImageError(f"image '{text}' must not have a tag or a digest")
    return ref


def timeout(spec: image.ImageRepositorySpec) -> float:
    """Seconds one scan (or digest read) may take: ``spec.timeout``, else the interval."""
    return meta.parse_duration(spec.timeout or spec.interval).total_seconds()


def canonical_name(ref: oci_references.Reference) -> str:
    """Flux's canonicalImageName: the host made explicit (``index.docker.io`` for Docker Hub)."""
    return f"{ref.host}/{ref.repository}"


async def _secret(api: client.Client, namespace: str, name: str, what: str) -> dict[str, bytes]:
    try:
        return await references.secret_data(api, namespace, name)
    except references.ReferenceNotFoundError as missing:
        raise AccessError(f"{what}: {missing.message}") from missing
    except errors.KubeError as failure:
        raise AccessError(
            f"{what}: reading Secret '{namespace}/{name}': {failure.message}"
        ) from failure


def _docker_credentials(
    data: dict[str, bytes], host: str, what: str
) -> credentials.Credentials | None:
    config = data.get(DOCKERCONFIGJSON_KEY)
    if config is None:
        raise AccessError(f"{what}: Secret has no '{DOCKERCONFIGJSON_KEY}' key")
    try:
        return credentials.from_dockerconfigjson(config, host)
    except oci_errors.InvalidCredentialsError as error:
        raise AccessError(f"{what}: {error}") from error


async def _account_credentials(
    api: client.Client, namespace: str, account: str, host: str
) -> credentials.Credentials | None:
    what = f"ServiceAccount '{namespace}/{account}'"
    try:
        found: dict[str, Any] = await api.request(
            "GET", f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}", verb="get"
        )
    except errors.KubeError as failure:
        raise AccessError(f"{what}: {failure.message}") from failure
    for pull in found.get("imagePullSecrets") or []:
        name = pull.get("name")
        if not name:
            continue
        data = await _secret(api, namespace, name, f"{what} pull secret '{name}'")
        creds = _docker_credentials(data, host, f"pull secret '{name}'")
        if creds is not None:
            return creds
    return None


def _proxy(data: dict[str, bytes]) -> str:
    address = data.get("address", b"").decode()
    if not address:
        raise AccessError("proxySecretRef: Secret has no 'address' key")
    url = URL(address)
    user, password = data.get("username", b"").decode(), data.get("password", b"").decode()
    if user:
        url = url.with_user(user).with_password(password or None)
    return str(url)


async def connection(
    api: client.Client,
    obj: image.ImageRepository,
    ref: oci_references.Reference,
    *,
    request_timeout: float,
) -> transport.Connection:
    """The connection to ``ref``'s registry with the object's credentials, TLS and proxy."""
    namespace = obj.metadata.namespace or "default"
    spec = obj.spec
    creds = None
    if spec.secret_ref is not None:
        what = f"secretRef '{spec.secret_ref.name}'"
        data = await _secret(api, namespace, spec.secret_ref.name, what)
        creds = _docker_credentials(data, ref.host, what)
    if creds is None and spec.service_account_name:
        creds = await _account_credentials(api, namespace, spec.service_account_name, ref.host)
    ssl_context = None
    if spec.cert_secret_ref is not None:
        what = f"certSecretRef '{spec.cert_secret_ref.name}'"
        data = await _secret(api, namespace, spec.cert_secret_ref.name, what)
        try:
            ssl_context = tls.context(
                ca=data.get("ca.crt"), cert=data.get("tls.crt"), key=data.get("tls.key")
            )
        except oci_errors.InvalidTLSError as error:
            raise AccessError(f"{what}: {error}") from error
    proxy = None
    if spec.proxy_secret_ref is not None:
        what = f"proxySecretRef '{spec.proxy_secret_ref.name}'"
        proxy = _proxy(await _secret(api, namespace, spec.proxy_secret_ref.name, what))
    return transport.Connection(
        host=ref.api_host,
        plain_http=bool(spec.insecure),
        ssl_context=ssl_context,
        proxy=proxy,
        credentials=creds,
        timeout=request_timeout,
    )


def failure(error: oci_errors.RegistryError, subject: str) -> results.ReconcileError:
    """A registry call's failure: refused credentials are ``AuthenticationFailed``,
    the rest ``ReadOperationFailed`` (both retried)."""
    if isinstance(error, oci_errors.UnauthorizedError):
        return results.ReconcileError(str(error), reason=image.AUTHENTICATION_FAILED_REASON)
    return results.ReconcileError(f"{subject}: {error}", reason=image.READ_OPERATION_FAILED_REASON)


@dataclasses.dataclass(frozen=True)
class Registries:
    """What a registry call needs: the API (Secrets), the process's HTTP session and tokens."""

    api: client.Client
    session: aiohttp.ClientSession
    token_cache: tokens.TokenCache

    async def client(
        self,
        obj: image.ImageRepository,
        ref: oci_references.Reference,
        *,
        request_timeout: float,
    ) -> oci_client.Client:
        """A client for ``ref``'s registry with ``obj``'s settings; ``AuthenticationFailed``
        (``results.ReconcileError``) when they cannot be built."""
        try:
            made = await connection(self.api, obj, ref, request_timeout=request_timeout)
        except AccessError as invalid:
            raise results.ReconcileError(
                str(invalid), reason=image.AUTHENTICATION_FAILED_REASON
            ) from invalid
        return oci_client.Client(self.session, made, token_cache=self.token_cache)
