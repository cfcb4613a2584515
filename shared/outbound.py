"""One outbound HTTP request as the controllers send it to registries and storage.

``send`` makes an aiohttp request with the caller's TLS context (None: the
system roots), ``read_timeout`` for connecting and for each read (no total,
so a large body may take as long as it streams) and an optional explicit
proxy; the caller catches ``SEND_ERRORS`` (no answer) and words them with
``describe``.

A proxy address ``http://user:password@host:port`` (a Bucket's or a registry
Secret's ``proxy``) becomes the proxy URL without its userinfo and a
``Proxy-Authorization: Basic`` header (``route``). Where that header goes
depends on the target: aiohttp sends ``proxy_headers`` only on the CONNECT
that tunnels HTTPS, so a plain HTTP request through the proxy carries the
header itself. Imports nothing of ``shared``.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import ssl
from collections.abc import Mapping
from typing import Any

import aiohttp
from multidict import CIMultiDict
from yarl import URL

SEND_ERRORS = (TimeoutError, aiohttp.ClientError, ssl.SSLError, OSError)
"""What ``send`` raises when no answer came."""


@dataclasses.dataclass(frozen=True)
class Route:
    """The proxy arguments of one request (``proxy=``, ``proxy_headers=``) and its extra headers."""

    proxy: URL | None
    """The proxy without its userinfo; None is no explicit proxy."""
    headers: Mapping[str, str]
    """Headers the request itself carries (``Proxy-Authorization`` for plain HTTP)."""
    proxy_headers: Mapping[str, str] | None
    """Headers of the CONNECT (``Proxy-Authorization`` for HTTPS); None is none."""


def route(address: str | None, target: URL) -> Route:
    """How to send a request for ``target`` through the proxy at ``address`` (None: no proxy)."""
    if address is None:
        return Route(proxy=None, headers={}, proxy_headers=None)
    proxy = URL(address)
    if proxy.user is None:
        return Route(proxy=proxy, headers={}, proxy_headers=None)
    pair = base64.b64encode(f"{proxy.user}:{proxy.password or ''}".encode()).decode("ascii")
    authorization = {"Proxy-Authorization": f"Basic {pair}"}
    if target.scheme == "http":
        return Route(proxy=proxy.with_user(None), headers=authorization, proxy_headers=None)
    return Route(proxy=proxy.with_user(None), headers={}, proxy_headers=authorization)


async def send(
    session: aiohttp.ClientSession,
    method: str,
    url: URL,
    *,
    headers: Mapping[str, str],
    data: Any = None,
    ssl_context: ssl.SSLContext | None,
    proxy: str | None,
    read_timeout: float,
) -> aiohttp.ClientResponse:
    """The response (the caller releases it); one of ``SEND_ERRORS`` when none came."""
    proxied = route(proxy, url)
    sent: CIMultiDict[str] = CIMultiDict(headers)
    sent.update(proxied.headers)
    return await session.request(
        method,
        url,
        headers=sent,
        data=data,
        ssl=ssl_context or True,
        proxy=proxied.proxy,
        proxy_headers=proxied.proxy_headers,
        timeout=aiohttp.ClientTimeout(
            total=None, sock_connect=read_timeout, sock_read=read_timeout
        ),
    )


def describe(failure: BaseException) -> str:
    """A ``SEND_ERRORS`` failure as message text (``timed out`` for a timeout)."""
    if isinstance(failure, asyncio.TimeoutError):
        return "timed out"
    return str(failure) or type(failure).__name__
