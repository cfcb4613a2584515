"""What every Bucket provider's client offers, and the HTTP plumbing the REST ones share.

A provider client (``s3.Bucket``, ``azureblob.Container``, ``gcs.Bucket``) is
built per reconcile and offers the three operations the reconciler needs:

- ``list(prefix)``: key → ETag of every object under ``prefix``, page by
  page; ``BucketError`` naming the bucket when it does not exist;
- ``download(key, target, optional=)``: the object's bytes into ``target``
  (parents created); False when ``optional`` and the object does not exist;
- ``close()``: releases connections, on every path.

Every failure is a ``BucketError`` whose message names the operation and the
service's answer, never a credential. ``Http`` is the aiohttp session the
REST clients (Azure Blob, GCS) use: TLS from ``certSecretRef`` (an
``ssl.SSLContext``), a proxy from ``proxySecretRef`` (``Proxy-Authorization``
sent as aiohttp needs it), a per-read timeout, and responses translated to
``BucketError`` in one place; ``save`` streams an object download into a
file, ``post_form`` is the POST of token and STS requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import pathlib
import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

import aiohttp
from yarl import URL

from shared import outbound

_CHUNK = 1 << 16
_ERROR_BODY_LIMIT = 4096


class BucketError(Exception):
    """A request to the object storage failed (the message says which and why)."""


class NotFoundError(BucketError):
    """The service answered 404 (``code`` is its error code, when it sent one)."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class Client(Protocol):
    """One bucket (or Azure container) at one endpoint."""

    async def list(self, prefix: str | None) -> dict[str, str]: ...

    async def download(self, key: str, target: pathlib.Path, *, optional: bool = False) -> bool: ...

    async def close(self) -> None: ...


@dataclasses.dataclass(frozen=True)
class Transport:
    """How to reach the endpoint: TLS, proxy and timeout (from the Bucket's spec and Secrets)."""

    ssl_context: ssl.SSLContext | None = None
    """Trust and client certificate; None is the system roots."""
    proxy: str | None = None
    """``http://[user:password@]host:port``; None is no proxy (or the environment's)."""
    timeout: float = 60.0
    """Seconds to connect and for each read (``spec.timeout``)."""


def endpoint_url(endpoint: str, *, insecure: bool) -> URL:
    """``endpoint`` as a URL: as given with a scheme, else ``http://`` when insecure."""
    if "://" in endpoint:
        return URL(endpoint)
    return URL(f"{'http' if insecure else 'https'}://{endpoint}")


class Http:
    """An aiohttp session with the Bucket's transport settings; ``close()`` it."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._session = aiohttp.ClientSession(trust_env=transport.proxy is None)

    async def close(self) -> None:
        await self._session.close()

    async def request(
        self,
        method: str,
        url: URL,
        *,
        headers: Mapping[str, str],
        subject: str,
        data: bytes | Mapping[str, str] | None = None,
    ) -> aiohttp.ClientResponse:
        """The response to a request (the caller releases it); ``BucketError`` on no answer."""
        try:
            return await outbound.send(
                self._session,
                method,
                url,
                headers=headers,
                data=data,
                ssl_context=self._transport.ssl_context,
                proxy=self._transport.proxy,
                read_timeout=self._transport.timeout,
            )
        except outbound.SEND_ERRORS as failed:
            raise BucketError(f"{subject}: {outbound.describe(failed)}") from failed

    async def save(
        self,
        response: aiohttp.ClientResponse,
        target: pathlib.Path,
        *,
        optional: bool,
        check: Callable[[aiohttp.ClientResponse], Awaitable[None]],
    ) -> bool:
        """Stream an object download's body into ``target`` (parents created), then release it.

        False (nothing written) for a 404 when ``optional``; ``check`` raises the
        provider's error for any other failure.
        """
        try:
            if response.status == 404 and optional:
                return False
            await check(response)
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as out:
                async for chunk in response.content.iter_chunked(_CHUNK):
                    out.write(chunk)
        finally:
            response.release()
        return True

    async def post_form(
        self, url: URL, form: Mapping[str, str], *, accept: str, subject: str
    ) -> tuple[int, bytes]:
        """POST ``form`` (``application/x-www-form-urlencoded``); the status and body."""
        response = await self.request(
            "POST", url, headers={"Accept": accept}, data=form, subject=subject
        )
        try:
            return response.status, await response.read()
        finally:
            response.release()


async def error_text(response: aiohttp.ClientResponse) -> str:
    """The start of an error answer's body, for a message (never more than a few KiB)."""
    with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError, UnicodeDecodeError):
        return (await response.content.read(_ERROR_BODY_LIMIT)).decode("utf-8", "replace")
    return ""
