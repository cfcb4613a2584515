"""An OCIRepository's registry connection from its Secrets and ServiceAccount.

``secretRef`` (a ``kubernetes.io/dockerconfigjson`` Secret) gives the
credentials; without it, the first ``imagePullSecrets`` entry of
``serviceAccountName`` whose dockerconfigjson has the registry host.
``certSecretRef`` gives ``ca.crt`` and/or ``tls.crt``/``tls.key``;
``proxySecretRef`` gives ``address`` with optional ``username`` and
``password``; ``insecure`` means plain HTTP. A missing Secret or
ServiceAccount raises ``PullError`` with ``AuthenticationFailed``; a
malformed one stalls.
"""

from __future__ import annotations

from yarl import URL

from controllers.source.ocirepository.pulling import PullError
from shared.api import meta, source, source_conditions
from shared.kube import client, references
from shared.kube import errors as kube_errors
from shared.oci import credentials, errors, tls, transport

_DOCKERCONFIG_KEY = ".dockerconfigjson"


async def connection(
    api: client.Client, obj: source.OCIRepository, host: str, api_host: str
) -> transport.Connection:
    """The ``transport.Connection`` to ``api_host`` that ``obj``'s spec describes."""
    spec = obj.spec
    namespace = obj.metadata.namespace or "default"
    try:
        creds = await _credentials(api, namespace, spec, host)
        ssl_context = None
        if spec.cert_secret_ref is not None:
            bundle = await _secret(api, namespace, spec.cert_secret_ref.name)
            ssl_context = tls.context(
                ca=bundle.get("ca.crt"), cert=bundle.get("tls.crt"), key=bundle.get("tls.key")
            )
        proxy = None
        if spec.proxy_secret_ref is not None:
            proxy = _proxy(await _secret(api, namespace, spec.proxy_secret_ref.name))
    except errors.ConfigurationError as exc:
        raise PullError(
            str(exc), reason=source_conditions.AUTHENTICATION_FAILED_REASON, stalling=True
        ) from exc
    return transport.Connection(
        host=api_host,
        credentials=creds,
        ssl_context=ssl_context,
        plain_http=bool(spec.insecure),
        proxy=proxy,
        timeout=meta.parse_duration(spec.timeout).total_seconds(),
    )


async def _secret(api: client.Client, namespace: str, name: str) -> dict[str, bytes]:
    try:
        return await references.secret_data(api, namespace, name)
    except references.ReferenceNotFoundError as missing:
        raise PullError(
            missing.message, reason=source_conditions.AUTHENTICATION_FAILED_REASON
        ) from missing


async def _credentials(
    api: client.Client, namespace: str, spec: source.OCIRepositorySpec, host: str
) -> credentials.Credentials | None:
    if spec.secret_ref is not None:
        secret = await _secret(api, namespace, spec.secret_ref.name)
        if _DOCKERCONFIG_KEY not in secret:
            raise errors.InvalidCredentialsError(
                f"Secret '{namespace}/{spec.secret_ref.name}' has no '{_DOCKERCONFIG_KEY}'"
            )
        return credentials.from_dockerconfigjson(secret[_DOCKERCONFIG_KEY], host)
    if spec.service_account_name:
        for name in await _pull_secrets(api, namespace, spec.service_account_name):
            secret = await _secret(api, namespace, name)
            if _DOCKERCONFIG_KEY in secret:
                found = credentials.from_dockerconfigjson(secret[_DOCKERCONFIG_KEY], host)
                if found is not None:
                    return found
    return None


async def _pull_secrets(api: client.Client, namespace: str, name: str) -> list[str]:
    path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}"
    try:
        account = await api.request("GET", path, verb="get")
    except kube_errors.NotFoundError as missing:
        raise PullError(
            f"ServiceAccount '{namespace}/{name}' not found",
            reason=source_conditions.AUTHENTICATION_FAILED_REASON,
        ) from missing
    return [s["name"] for s in account.get("imagePullSecrets") or [] if s.get("name")]


def _proxy(secret: dict[str, bytes]) -> str:
    address = secret.get("address", b"").decode()
    if not address:
        raise errors.ConfigurationError("the proxy Secret has no 'address'")
    url = URL(address)
    username = secret.get("username", b"").decode()
    if username:
        url = url.with_user(username).with_password(secret.get("password", b"").decode() or None)
    return str(url)
