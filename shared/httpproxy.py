"""Sending an aiohttp request through an explicit HTTP proxy that may carry credentials.

A proxy address ``http://user:password@host:port`` (a Bucket's or a registry
Secret's ``proxy``) becomes the proxy URL without its userinfo and a
``Proxy-Authorization: Basic`` header. Where that header goes depends on the
target: aiohttp sends ``proxy_headers`` only on the CONNECT that tunnels
HTTPS, so a plain HTTP request through the proxy must carry the header itself.
Imports nothing of ``shared``.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Mapping

from yarl import URL


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
