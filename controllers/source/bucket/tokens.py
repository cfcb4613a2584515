"""OAuth 2.0 access tokens for the cloud providers, from the credentials in a Secret.

- ``google_service_account(key_json, …)``: a GCP service account key (the
  ``serviceaccount`` entry): a JWT signed with its RS256 private key is
  exchanged at its ``token_uri`` (RFC 7523's jwt-bearer grant) for a token
  with the read-only Cloud Storage scope;
- ``azure_client_secret(tenant, client, secret, authority=…)``: a service
  principal's client credentials grant at
  ``<authority>/<tenant>/oauth2/v2.0/token`` for the Storage scope;
- ``azure_federated(tenant, client, token_file, authority=…)``: the same
  grant with the Pod's service account token as the client assertion
  (Azure workload identity).

Each returns a ``Source``: an async callable that returns a token, fetching
a new one only when the last is within a minute of expiring. Token requests
go through the Bucket's proxy, and use the system roots (the Bucket's
``certSecretRef`` is for the storage endpoint). ``BucketError`` (with
``auth=True``) on a malformed key or a refused grant; the messages never
carry a secret.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import pathlib
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from yarl import URL

from controllers.source.bucket import clients

GCS_READ_ONLY_SCOPE = "https://www.googleapis.com/auth/devstorage.read_only"
AZURE_STORAGE_SCOPE = "https://storage.azure.com/.default"
AZURE_PUBLIC_AUTHORITY = "https://login.microsoftonline.com/"
_JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_JWT_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_PEM_KEY = re.compile(
    rb"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.DOTALL
)
_REFRESH_MARGIN = 60.0
_GRANT_LIFETIME = 3600

Source = Callable[[], Awaitable[str]]


class CredentialsError(clients.BucketError):
    """The Secret's credentials are malformed, or the token endpoint refused them."""


def google_service_account(key_json: bytes, transport: clients.Transport) -> Source:
    """Tokens for the service account whose JSON key is ``key_json``."""
    try:
        key = json.loads(key_json)
        email, token_uri = str(key["client_email"]), str(key["token_uri"])
        private = serialization.load_pem_private_key(key["private_key"].encode(), password=None)
    except (ValueError, KeyError, TypeError, AttributeError) as failed:
        raise CredentialsError(
            "invalid service account key: it needs client_email, token_uri and an RSA private_key"
        ) from failed
    if not isinstance(private, rsa.RSAPrivateKey):
        raise CredentialsError("invalid service account key: the private_key is not RSA")

    async def form() -> dict[str, str]:
        now = int(time.time())
        claims = {
            "iss": email,
            "scope": GCS_READ_ONLY_SCOPE,
            "aud": token_uri,
            "iat": now,
            "exp": now + _GRANT_LIFETIME,
        }
        header = {"alg": "RS256", "typ": "JWT", "kid": str(key.get("private_key_id", ""))}
        signing_input = f"{_b64(json.dumps(header))}.{_b64(json.dumps(claims))}"
        signature = private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return {"grant_type": _JWT_BEARER, "assertion": f"{signing_input}.{_b64(signature)}"}

    return _Cached(URL(token_uri), form, transport, subject=f"service account '{email}'")


def azure_client_secret(
    *,
    tenant: str,
    client: str,
    secret: str,
    authority: str | None,
    transport: clients.Transport,
) -> Source:
    """Tokens for the service principal ``client`` of ``tenant``, by its client secret."""

    async def form() -> dict[str, str]:
        return {"client_secret": secret}

    return _azure(tenant, client, authority, form, transport)


def azure_federated(
    *,
    tenant: str,
    client: str,
    token_file: str,
    authority: str | None,
    transport: clients.Transport,
) -> Source:
    """Tokens for ``client`` of ``tenant`` by a federated credential: Azure workload identity.

    The Pod's projected service account token in ``token_file`` is the client
    assertion; it is read at every grant, as the kubelet rotates it.
    """

    async def form() -> dict[str, str]:
        try:
            assertion = (await asyncio.to_thread(pathlib.Path(token_file).read_text)).strip()
        except OSError as failed:
            raise CredentialsError(
                f"reading the federated token {token_file}: {failed.strerror}"
            ) from failed
        return {"client_assertion_type": _JWT_ASSERTION, "client_assertion": assertion}

    return _azure(tenant, client, authority, form, transport)


def azure_client_certificate(
    *,
    tenant: str,
    client: str,
    certificate: bytes,
    password: bytes | None,
    send_chain: bool,
    authority: str | None,
    transport: clients.Transport,
) -> Source:
    """Tokens for ``client`` of ``tenant`` by a certificate credential (a signed assertion).

    ``certificate`` is PEM (certificates and the RSA private key, the key
    possibly encrypted with ``password``) or PKCS#12. The assertion is an
    RS256 JWT naming the certificate by its SHA-1 thumbprint (``x5t``), with
    the chain in ``x5c`` when ``send_chain`` (subject name/issuer auth).
    """
    key, chain = _certificate_credential(certificate, password)
    thumbprint = hashlib.sha1(chain[0].public_bytes(serialization.Encoding.DER)).digest()
    header: dict[str, object] = {"alg": "RS256", "typ": "JWT", "x5t": _b64(thumbprint)}
    if send_chain:
        header["x5c"] = [
            base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in chain
        ]
    base = URL(authority or AZURE_PUBLIC_AUTHORITY)
    audience = str(base.with_path(f"{base.path.rstrip('/')}/{tenant}/oauth2/v2.0/token"))

    async def form() -> dict[str, str]:
        now = int(time.time())
        claims = {"aud": audience, "iss": client, "sub": client, "jti": str(uuid.uuid4()),
                  "nbf": now, "exp": now + 600}  # fmt: skip
        signing_input = f"{_b64(json.dumps(header))}.{_b64(json.dumps(claims))}"
        signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return {
            "client_assertion_type": _JWT_ASSERTION,
            "client_assertion": f"{signing_input}.{_b64(signature)}",
        }

    return _azure(tenant, client, authority, form, transport)


def _certificate_credential(
    data: bytes, password: bytes | None
) -> tuple[rsa.RSAPrivateKey, list[x509.Certificate]]:
    """The RSA key and certificates (the key's own first) of a PEM or PKCS#12 credential."""
    key: object = None
    chain: list[x509.Certificate] = []
    try:
        if b"-----BEGIN" in data:
            chain = x509.load_pem_x509_certificates(data)
            block = _PEM_KEY.search(data)
            if block is not None:
                key = serialization.load_pem_private_key(block.group(0), password=password or None)
        else:
            loaded_key, first, extra = pkcs12.load_key_and_certificates(data, password or None)
            key, chain = loaded_key, [c for c in (first, *extra) if c is not None]
    except (ValueError, TypeError) as failed:
        raise CredentialsError(f"failed to parse client certificates: {failed}") from failed
    if not isinstance(key, rsa.RSAPrivateKey) or not chain:
        raise CredentialsError(
            "failed to parse client certificates: it needs a certificate and its RSA private key"
        )
    own = [c for c in chain if c.public_key() == key.public_key()]
    if not own:
        raise CredentialsError("failed to parse client certificates: no certificate for the key")
    return key, own + [c for c in chain if c not in own]


def _azure(
    tenant: str,
    client: str,
    authority: str | None,
    credential: Callable[[], Awaitable[dict[str, str]]],
    transport: clients.Transport,
) -> Source:
    """Entra ID's client credentials grant for the Storage scope, with ``credential``'s fields."""
    base = URL(authority or AZURE_PUBLIC_AUTHORITY)
    url = base.with_path(f"{base.path.rstrip('/')}/{tenant}/oauth2/v2.0/token")

    async def form() -> dict[str, str]:
        fields = {"grant_type": "client_credentials", "client_id": client}
        return fields | {"scope": AZURE_STORAGE_SCOPE} | await credential()

    return _Cached(url, form, transport, subject=f"client '{client}' of tenant '{tenant}'")


class _Cached:
    """A token source that POSTs ``form()`` to ``url`` and keeps the token until near expiry."""

    def __init__(
        self,
        url: URL,
        form: Callable[[], Awaitable[Mapping[str, str]]],
        transport: clients.Transport,
        *,
        subject: str,
    ) -> None:
        self._url = url
        self._form = form
        self._transport = clients.Transport(proxy=transport.proxy, timeout=transport.timeout)
        self._subject = subject
        self._token = ""
        self._expires = 0.0

    async def __call__(self) -> str:
        if self._token and time.monotonic() < self._expires - _REFRESH_MARGIN:
            return self._token
        subject = f"requesting a token for {self._subject} from {self._url}"
        http = clients.Http(self._transport)
        try:
            status, body = await http.post_form(
                self._url, await self._form(), accept="application/json", subject=subject
            )
        finally:
            await http.close()
        try:
            answer = json.loads(body)
        except ValueError:
            answer = {}
        if not isinstance(answer, dict):
            answer = {}
        if status != 200 or not answer.get("access_token"):
            why = str(answer.get("error_description") or answer.get("error") or "")
            raise CredentialsError(f"{subject}: {status} {why.partition(chr(10))[0]}".rstrip())
        self._token = str(answer["access_token"])
        lifetime = answer.get("expires_in", _GRANT_LIFETIME)
        self._expires = time.monotonic() + float(lifetime)
        return self._token


def _b64(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
