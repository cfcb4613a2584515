"""A Bucket's storage client, built from its spec and the Secrets it names.

``connect(api, obj)`` reads ``secretRef``, ``proxySecretRef``,
``certSecretRef`` and ``sts.secretRef``/``sts.certSecretRef`` in the
Bucket's namespace and returns the provider's ``clients.Client``:

- ``generic``/``aws``: ``s3.Bucket``. The Secret needs ``accesskey`` and
  ``secretkey``. ``certSecretRef`` (``ca.crt``, ``tls.crt``/``tls.key``) is
  used over HTTPS. ``sts`` with provider ``ldap`` (generic only): without a
  ``secretRef``, MinIO's ``AssumeRoleWithLDAPIdentity`` at ``sts.endpoint``
  with the ``username``/``password`` of ``sts.secretRef`` (over
  ``sts.certSecretRef``'s TLS and the proxy) gives temporary keys. ``aws``
  without a ``secretRef``: the controller's web identity (IRSA's
  ``AWS_ROLE_ARN`` and ``AWS_WEB_IDENTITY_TOKEN_FILE``) exchanged at
  ``sts.endpoint`` (``sts.provider: aws``), or the region's STS, for the
  role's keys; without that environment, anonymous requests (a stall when
  ``sts`` is set).
- ``gcp``: ``gcs.Bucket``; the Secret needs ``serviceaccount`` (a JSON key).
- ``azure``: ``azureblob.Container``; the Secret needs one of Flux's sets
  (``tenantId``+``clientId`` with ``clientSecret`` or ``clientCertificate``,
  ``accountKey``, ``sasKey``; a lone ``clientId``, a managed identity, is
  recognised and refused as not supported).
  Without a Secret, the controller's environment: ``AZURE_TENANT_ID`` and
  ``AZURE_CLIENT_ID`` with ``AZURE_CLIENT_SECRET``, or with
  ``AZURE_FEDERATED_TOKEN_FILE`` (workload identity), else anonymous.

Without a ``secretRef``, ``gcp`` requests are anonymous: the other cloud
identities of the controller's Pod (EC2 instance profiles, GKE's metadata
server, Azure managed identity) and ``serviceAccountName``
(Flux's object-level workload identity) need the cloud itself; the last
stalls with a clear message. ``ConnectError`` carries Flux's
reason and whether the spec must change (``stalling``).
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import ssl

from yarl import URL

from controllers.source.bucket import azureblob, clients, gcs, s3, sts, tokens
from shared.api import meta, source, source_conditions
from shared.kube import client, references
from shared.oci import errors as oci_errors
from shared.oci import tls

SecretData = dict[str, bytes]
_TLS_MISSING = "failed to get TLS config: secret '{}' not found"
_STS_PAIRS = (("generic", "ldap"), ("aws", "aws"))
"""(bucket provider, STS provider) pairs Flux accepts."""


class ConnectError(Exception):
    """The Bucket cannot be connected to as specified."""

    def __init__(self, message: str, *, reason: str, stalling: bool = False) -> None:
        super().__init__(message)
        self.reason = reason
        self.stalling = stalling


async def connect(api: client.Client, obj: source.Bucket) -> clients.Client:
    """The client for ``obj``'s bucket; ``ConnectError`` when a Secret is missing or wrong."""
    spec = obj.spec
    namespace = obj.metadata.namespace or "default"
    if spec.provider != "generic" and spec.service_account_name:
        raise ConnectError(
            "spec.serviceAccountName (object-level workload identity) is not supported: "
            "use spec.secretRef",
            reason=meta.FEATURE_GATE_DISABLED_REASON,
            stalling=True,
        )
    secret = await _secret(api, namespace, spec.secret_ref, "failed to get secret '{}': {}")
    transport = clients.Transport(
        proxy=await _proxy(api, namespace, spec.proxy_secret_ref),
        timeout=meta.parse_duration(spec.timeout).total_seconds(),
    )
    insecure = bool(spec.insecure)
    try:
        if spec.provider == "gcp":
            return _gcs(spec, secret, transport)
        if spec.provider == "azure":
            return _azure(spec, secret, transport)
        return await _s3(api, namespace, spec, secret, transport, insecure)
    except tokens.CredentialsError as failed:
        raise ConnectError(
            str(failed), reason=source_conditions.AUTHENTICATION_FAILED_REASON
        ) from failed


def _gcs(spec: source.BucketSpec, secret: Named | None, transport: clients.Transport) -> gcs.Bucket:
    token = None
    if secret is not None:
        _require(secret, "serviceaccount")
        token = tokens.google_service_account(secret.data["serviceaccount"], transport)
    return gcs.Bucket(
        endpoint=clients.endpoint_url(spec.endpoint, insecure=bool(spec.insecure)),
        bucket=spec.bucket_name,
        token=token,
        transport=transport,
    )


def _azure(
    spec: source.BucketSpec, secret: Named | None, transport: clients.Transport
) -> azureblob.Container:
    endpoint = clients.endpoint_url(spec.endpoint, insecure=bool(spec.insecure))
    data = secret.data if secret is not None else {}
    if secret is not None and not _azure_secret_valid(data):
        raise ConnectError(
            f"invalid '{secret.name}' secret data: requires a 'clientId' or 'accountKey' field, "
            "a combination of 'tenantId', 'clientId' and 'clientSecret', or 'tenantId', "
            "'clientId' and 'clientCertificate'",
            reason=source_conditions.AUTHENTICATION_FAILED_REASON,
        )
    auth: azureblob.Auth = None
    authority = _text(data, "authorityHost") or os.environ.get("AZURE_AUTHORITY_HOST")
    if "tenantId" in data and "clientId" in data and data.get("clientSecret"):
        auth = azureblob.Bearer(
            tokens.azure_client_secret(
                tenant=_text(data, "tenantId"),
                client=_text(data, "clientId"),
                secret=_text(data, "clientSecret"),
                authority=authority,
                transport=transport,
            )
        )
    elif "tenantId" in data and "clientId" in data and data.get("clientCertificate"):
        send_chain = _text(data, "clientCertificateSendChain").lower() in ("1", "true")
        auth = azureblob.Bearer(
            tokens.azure_client_certificate(
                tenant=_text(data, "tenantId"),
                client=_text(data, "clientId"),
                certificate=data["clientCertificate"],
                password=data.get("clientCertificatePassword"),
                send_chain=send_chain,
                authority=authority,
                transport=transport,
            )
        )
    elif "clientId" in data:
        raise _unsupported("authentication with a managed identity (clientId without tenantId)")
    elif "accountKey" in data:
        auth = azureblob.SharedKey(_text(data, "accountKey"))
    elif "sasKey" in data:
        auth = azureblob.Sas(_text(data, "sasKey"))
    else:
        auth = _azure_environment(authority, transport)
    try:
        return azureblob.Container(
            endpoint=endpoint, container=spec.bucket_name, auth=auth, transport=transport
        )
    except clients.BucketError as failed:
        raise ConnectError(
            f"failed to create client from '{secret.name if secret else ''}' Secret data: {failed}",
            reason=source_conditions.AUTHENTICATION_FAILED_REASON,
        ) from failed


def _azure_environment(authority: str | None, transport: clients.Transport) -> azureblob.Auth:
    """The controller's own Azure identity, in Flux's order, or None (anonymous).

    ``AZURE_CLIENT_SECRET`` (the environment credential), else
    ``AZURE_FEDERATED_TOKEN_FILE`` (workload identity), each with
    ``AZURE_TENANT_ID`` and ``AZURE_CLIENT_ID``.
    """
    tenant, client = os.environ.get("AZURE_TENANT_ID"), os.environ.get("AZURE_CLIENT_ID")
    if not tenant or not client:
        return None
    if secret := os.environ.get("AZURE_CLIENT_SECRET"):
        return azureblob.Bearer(
            tokens.azure_client_secret(
                tenant=tenant, client=client, secret=secret, authority=authority,
                transport=transport,
            )
        )  # fmt: skip
    if token_file := os.environ.get("AZURE_FEDERATED_TOKEN_FILE"):
        return azureblob.Bearer(
            tokens.azure_federated(
                tenant=tenant, client=client, token_file=token_file, authority=authority,
                transport=transport,
            )
        )  # fmt: skip
    return None


async def _s3(
    api: client.Client,
    namespace: str,
    spec: source.BucketSpec,
    secret: Named | None,
    transport: clients.Transport,
    insecure: bool,
) -> s3.Bucket:
    credentials = None
    if secret is not None:
        _require(secret, "accesskey", "secretkey")
        credentials = s3.Credentials(
            _text(secret.data, "accesskey"), _text(secret.data, "secretkey")
        )
    sts_spec = spec.sts
    if sts_spec is not None and (spec.provider, sts_spec.provider) not in _STS_PAIRS:
        raise ConnectError(
            f"STS provider '{sts_spec.provider}' is not supported for '{spec.provider}' bucket "
            "provider",
            reason=source_conditions.INVALID_STS_CONFIGURATION_REASON,
            stalling=True,
        )
    if credentials is None and sts_spec is not None and sts_spec.provider == "ldap":
        credentials = await _ldap_credentials(api, namespace, sts_spec, transport)
    elif credentials is None and spec.provider == "aws":
        credentials = await _web_identity(spec, transport)
    bundle = await _secret(api, namespace, spec.cert_secret_ref, _TLS_MISSING)
    return s3.Bucket(
        endpoint=spec.endpoint,
        bucket=spec.bucket_name,
        region=spec.region,
        insecure=insecure,
        credentials=credentials,
        tls=_tls(bundle, "failed to get TLS config") if bundle is not None else None,
        proxy=transport.proxy,
        timeout=transport.timeout,
    )


async def _web_identity(
    spec: source.BucketSpec, transport: clients.Transport
) -> s3.Credentials | None:
    """The role's keys for the controller's web identity (IRSA's environment), if it has one.

    ``sts.endpoint`` when given, else the region's STS. Without the environment:
    None (anonymous requests), or a stall when ``sts`` asks for it.
    """
    role, token_file = os.environ.get("AWS_ROLE_ARN"), os.environ.get("AWS_WEB_IDENTITY_TOKEN_FILE")
    if not role or not token_file:
        if spec.sts is None:
            return None
        raise ConnectError(
            "STS provider 'aws' needs the controller's web identity: AWS_ROLE_ARN and "
            "AWS_WEB_IDENTITY_TOKEN_FILE are not set",
            reason=source_conditions.AUTHENTICATION_FAILED_REASON,
            stalling=True,
        )
    try:
        token = (await asyncio.to_thread(pathlib.Path(token_file).read_text)).strip()
    except OSError as failed:
        raise ConnectError(
            f"AWS authentication failed: reading the web identity token: {failed.strerror}",
            reason=source_conditions.AUTHENTICATION_FAILED_REASON,
        ) from failed
    region = spec.region or os.environ.get("AWS_REGION")
    default = f"https://sts.{region}.amazonaws.com" if region else "https://sts.amazonaws.com"
    try:
        return await sts.web_identity_credentials(
            spec.sts.endpoint if spec.sts is not None else default,
            role_arn=role,
            token=token,
            session=os.environ.get("AWS_ROLE_SESSION_NAME") or "source-controller",
            transport=clients.Transport(proxy=transport.proxy, timeout=transport.timeout),
        )
    except clients.BucketError as failed:
        raise ConnectError(
            f"AWS authentication failed: {failed}",
            reason=source_conditions.AUTHENTICATION_FAILED_REASON,
        ) from failed


async def _ldap_credentials(
    api: client.Client,
    namespace: str,
    sts_spec: source.BucketSTSSpec,
    transport: clients.Transport,
) -> s3.Credentials:
    """Temporary keys from MinIO's STS for the LDAP user of ``sts.secretRef``."""
    missing = "failed to get STS secret '{}': {}"
    secret = await _secret(api, namespace, sts_spec.secret_ref, missing)
    username = password = ""
    if secret is not None:
        if not secret.data.get("username") or not secret.data.get("password"):
            raise ConnectError(
                f"invalid '{secret.name}' secret data for 'ldap' STS provider: "
                "required fields username, password",
                reason=source_conditions.AUTHENTICATION_FAILED_REASON,
            )
        username, password = _text(secret.data, "username"), _text(secret.data, "password")
    missing = "failed to get STS TLS config: secret '{}' not found"
    bundle = await _secret(api, namespace, sts_spec.cert_secret_ref, missing)
    sts_transport = clients.Transport(
        ssl_context=_ssl(bundle, "failed to get STS TLS config") if bundle is not None else None,
        proxy=transport.proxy,
        timeout=transport.timeout,
    )
    try:
        return await sts.ldap_credentials(
            sts_spec.endpoint, username=username, password=password, transport=sts_transport
        )
    except clients.BucketError as failed:
        raise ConnectError(
            str(failed), reason=source_conditions.AUTHENTICATION_FAILED_REASON
        ) from failed


class Named:
    """A Secret's name and decoded data."""

    def __init__(self, name: str, data: SecretData) -> None:
        self.name = name
        self.data = data


async def _secret(
    api: client.Client, namespace: str, ref: meta.LocalObjectReference | None, missing: str
) -> Named | None:
    """The Secret ``ref`` names; a missing one is ``missing`` formatted with its name and why."""
    if ref is None:
        return None
    try:
        return Named(ref.name, await references.secret_data(api, namespace, ref.name))
    except references.ReferenceNotFoundError as absent:
        raise ConnectError(
            missing.format(f"{namespace}/{ref.name}", absent.message),
            reason=source_conditions.AUTHENTICATION_FAILED_REASON,
        ) from absent


async def _proxy(
    api: client.Client, namespace: str, ref: meta.LocalObjectReference | None
) -> str | None:
    """``http://user:password@host:port`` from a proxy Secret (``address`` required)."""
    secret = await _secret(api, namespace, ref, "failed to get proxy URL: secret '{}' not found")
    if secret is None:
        return None
    address = _text(secret.data, "address")
    if not address:
        raise ConnectError(
            f"failed to get proxy URL: secret '{namespace}/{secret.name}': key 'address' not found",
            reason=source_conditions.AUTHENTICATION_FAILED_REASON,
        )
    url = URL(address)
    username = _text(secret.data, "username")
    if username:
        url = url.with_user(username).with_password(_text(secret.data, "password") or None)
    return str(url)


def _tls(bundle: Named, what: str) -> s3.Tls:
    _ssl(bundle, what)  # NB: validates the PEM data and the cert/key pairing before any request.
    data = bundle.data
    return s3.Tls(ca=data.get("ca.crt"), cert=data.get("tls.crt"), key=data.get("tls.key"))


def _ssl(bundle: Named, what: str) -> ssl.SSLContext:
    """The SSL context of a TLS Secret (``ca.crt``, or ``tls.crt`` and ``tls.key``, or all)."""
    data = bundle.data
    if not data.get("ca.crt") and not (data.get("tls.crt") and data.get("tls.key")):
        raise ConnectError(
            f"{what}: secret '{bundle.name}' must contain either 'ca.crt' or both 'tls.crt' "
            "and 'tls.key'",
            reason=source_conditions.AUTHENTICATION_FAILED_REASON,
        )
    try:
        return tls.context(
            ca=bundle.data.get("ca.crt"),
            cert=bundle.data.get("tls.crt"),
            key=bundle.data.get("tls.key"),
        )
    except oci_errors.InvalidTLSError as failed:
        raise ConnectError(
            f"{what}: secret '{bundle.name}': {failed}",
            reason=source_conditions.AUTHENTICATION_FAILED_REASON,
        ) from failed


def _require(secret: Named, *keys: str) -> None:
    if any(key not in secret.data for key in keys):
        fields = " and ".join(f"'{k}'" for k in keys)
        raise ConnectError(
            f"invalid '{secret.name}' secret data: required fields {fields}",
            reason=source_conditions.AUTHENTICATION_FAILED_REASON,
        )


def _azure_secret_valid(data: SecretData) -> bool:
    pairs = "tenantId" in data and "clientId" in data
    service_principal = pairs and ("clientSecret" in data or "clientCertificate" in data)
    single = any(k in data for k in ("clientId", "accountKey", "sasKey", "authorityHost"))
    return service_principal or single


def _unsupported(what: str) -> ConnectError:
    return ConnectError(
        f"{what} is not supported: use 'accountKey', 'sasKey' or 'tenantId', 'clientId' and "
        "'clientSecret'",
        reason=source_conditions.AUTHENTICATION_FAILED_REASON,
        stalling=True,
    )


def _text(data: SecretData, key: str) -> str:
    return data.get(key, b"").decode("utf-8", "replace").strip()
