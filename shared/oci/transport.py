"""HTTP to one registry: authentication, and the one place errors are translated.

``Transport.request`` sends a request and yields the response once it has a
success status. It answers the registry's challenge on a 401 (``Basic``
with the credentials; ``Bearer`` by fetching a token from the challenge's
realm, with basic credentials or anonymously, cached in the ``TokenCache``)
and repeats the request once; a later request to the same host
authenticates up front from the remembered challenge. A cached token the
registry refuses is dropped and fetched again once.

Every failure leaves as a ``shared.oci.errors`` error: aiohttp's
exceptions, TLS errors and timeouts as ``TransportError``; an error status
as the ``ResponseError`` subclass for it, carrying the registry's error JSON
(``{"errors": [{"code", "message"}]}``, or a token server's ``details``).
Responses are released on every path.

Request bodies are bytes or a zero-argument factory of an async byte
iterator, so a body can be sent again after a challenge.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import json
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from typing import Any, Final

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from shared import outbound
from shared.oci import challenges, credentials, errors, tokens

Body = bytes | Callable[[], AsyncIterable[bytes]] | None
_ERROR_BODY_LIMIT: Final = 64 * 1024
_NOT_FOUND_CODES: Final[dict[str, type[errors.NotFoundError]]] = {
    "MANIFEST_UNKNOWN": errors.ManifestUnknownError,
    "BLOB_UNKNOWN": errors.BlobUnknownError,
    "NAME_UNKNOWN": errors.NameUnknownError,
}


@dataclasses.dataclass(frozen=True)
class Connection:
    """How to reach one registry: host, scheme, TLS, proxy, timeout, credentials."""

    host: str
    """``host[:port]`` as in an image reference (``ghcr.io``, ``127.0.0.1:5000``)."""
    plain_http: bool = False
    """Flux's ``insecure``: speak HTTP instead of HTTPS."""
    ssl_context: ssl.SSLContext | None = None
    proxy: str | None = None
    """An HTTP(S) forward proxy URL; credentials in it are sent as proxy basic auth."""
    credentials: credentials.Credentials | None = None
    timeout: float = 60.0
    """Seconds allowed for one request, up to its headers (bodies stream without a total)."""

    @property
    def base_url(self) -> URL:
        return URL(f"{'http' if self.plain_http else 'https'}://{self.host}")


class Transport:
    """Authenticated requests to one registry over a caller-owned ``aiohttp.ClientSession``."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        connection: Connection,
        *,
        token_cache: tokens.TokenCache,
    ) -> None:
        self._session = session
        self.connection = connection
        self._tokens = token_cache
        self._identity = _identity(connection.credentials)

    @contextlib.asynccontextmanager
    async def request(
        self,
        method: str,
        url: URL,
        *,
        subject: str,
        scope: str,
        headers: Mapping[str, str] | None = None,
        body: Body = None,
        not_found: type[errors.NotFoundError] = errors.NotFoundError,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """The response to ``method url`` once its status is below 400.

        ``subject`` names the request in error messages; ``scope`` is the
        token scope it needs; ``not_found`` is raised for a 404 whose error
        code does not say more.
        """
        host = self.connection.host
        authorization, token_key = await self._authorization(self._tokens.challenge(host), scope)
        response = await self._send(method, url, headers, body, authorization, subject=subject)
        try:
            if response.status == 401:
                challenge = challenges.pick(response.headers.getall("WWW-Authenticate", []))
                retry = challenge is not None and (
                    authorization is None or token_key is not None or challenge.scheme == "bearer"
                )
                if retry and challenge is not None:
                    if token_key is not None:
                        self._tokens.forget(token_key)
                    self._tokens.remember_challenge(host, challenge)
                    fresh, _ = await self._authorization(challenge, scope)
                    if fresh is not None and fresh != authorization:
                        response.release()
                        response = await self._send(
                            method, url, headers, body, fresh, subject=subject
                        )
            if response.status >= 400:
                raise await _error(response, subject=subject, not_found=not_found)
            yield response
        finally:
            response.release()

    async def _send(
        self,
        method: str,
        url: URL,
        headers: Mapping[str, str] | None,
        body: Body,
        authorization: str | None,
        *,
        subject: str,
    ) -> aiohttp.ClientResponse:
        sent: CIMultiDict[str] = CIMultiDict(headers or {})
        if authorization is not None:
            sent["Authorization"] = authorization
        data: Any = body() if callable(body) else body
        try:
            return await outbound.send(
                self._session,
                method,
                url,
                headers=sent,
                data=data,
                ssl_context=self.connection.ssl_context,
                proxy=self.connection.proxy,
                read_timeout=self.connection.timeout,
            )
        except outbound.SEND_ERRORS as exc:
            raise errors.TransportError(f"{subject}: {outbound.describe(exc)}") from exc

    async def _authorization(
        self, challenge: challenges.Challenge | None, scope: str
    ) -> tuple[str | None, tokens.TokenKey | None]:
        """The ``Authorization`` value answering ``challenge`` and, for a token, its cache key."""
        creds = self.connection.credentials
        if challenge is None:
            return None, None
        if creds is not None and creds.token:
            return f"Bearer {creds.token}", None
        if challenge.scheme == "basic":
            if creds is None:
                return None, None
            return _basic(creds), None
        if challenge.scheme != "bearer" or not challenge.realm:
            return None, None
        key = tokens.TokenKey(
            realm=challenge.realm,
            service=challenge.service,
            # NB: the scope we need, not the challenge's: a challenge remembered from
            # another repository names that repository.
            scope=scope,
            identity=self._identity,
        )
        token = await self._tokens.get(key, lambda: self._fetch_token(key))
        return f"Bearer {token}", key

    async def _fetch_token(self, key: tokens.TokenKey) -> tuple[str, float | None]:
        """GET the token endpoint for one scope (with basic credentials when we have them)."""
        url = URL(key.realm)
        query = dict(url.query)
        if key.service:
            query["service"] = key.service
        if key.scope:
            query["scope"] = key.scope
        creds = self.connection.credentials
        authorization = _basic(creds) if creds is not None and creds.username else None
        subject = f"token request to {url.with_query(None)}"
        response = await self._send(
            "GET", url.with_query(query), None, None, authorization, subject=subject
        )
        try:
            if response.status >= 400:
                raise await _error(response, subject=subject, not_found=errors.NotFoundError)
            try:
                answer = await response.json(content_type=None)
            except (ValueError, aiohttp.ClientError) as exc:
                raise errors.InvalidContentError(f"{subject}: the answer is not JSON") from exc
        finally:
            response.release()
        token = (
            answer.get("token") or answer.get("access_token") if isinstance(answer, dict) else ""
        )
        if not token or not isinstance(token, str):
            raise errors.InvalidContentError(f"{subject}: the answer has no token")
        expires_in = answer.get("expires_in")
        return token, float(expires_in) if isinstance(expires_in, int | float) else None


def _basic(creds: credentials.Credentials) -> str:
    pair = f"{creds.username}:{creds.password}".encode()
    return f"Basic {base64.b64encode(pair).decode('ascii')}"


def _identity(creds: credentials.Credentials | None) -> str:
    if creds is None:
        return "anonymous"
    secret = f"{creds.username}\0{creds.password}\0{creds.token}".encode()
    return hashlib.sha256(secret).hexdigest()


async def _error(
    response: aiohttp.ClientResponse, *, subject: str, not_found: type[errors.NotFoundError]
) -> errors.ResponseError:
    """The error for an error answer, with the registry's code and message."""
    code, message = "", ""
    if response.method != "HEAD":
        with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
            raw = await response.content.read(_ERROR_BODY_LIMIT)
            if response.content_type == "text/plain":
                # NB: proxies and load balancers answer in text; HTML pages are dropped.
                message = " ".join(raw.decode("utf-8", "replace").split())[:200]
            else:
                code, message = _error_json(raw)
    status = response.status
    kind: type[errors.ResponseError] = errors.ResponseError
    if status in (401, 403):
        kind = errors.UnauthorizedError
    elif status == 404:
        kind = _NOT_FOUND_CODES.get(code, not_found)
    elif status == 429:
        kind = errors.TooManyRequestsError
    # NB: HEAD answers (and some proxies) carry no body: the reason phrase stands in.
    return kind(subject, status=status, code=code, message=message or response.reason or "")


def _error_json(raw: bytes) -> tuple[str, str]:
    """(code, message) from ``{"errors": [...]}`` or a token server's ``{"details": …}``."""
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return "", ""
    if not isinstance(document, dict):
        return "", ""
    entries = document.get("errors")
    if isinstance(entries, list) and entries and all(isinstance(e, dict) for e in entries):
        code = str(entries[0].get("code") or "")
        message = "; ".join(str(e.get("message") or "") for e in entries if e.get("message"))
        return code, message
    return "", str(document.get("details") or document.get("error") or "")
