"""The proxy for one Git remote: ``spec.proxySecretRef`` or, failing that, the environment.

Contract: ``from_secret`` validates a proxy Secret's data (``address``,
``username``, ``password``; ``http``, ``https`` and ``socks5`` addresses, as
Flux accepts) and raises ``errors.AuthError`` on bad data. ``from_environment``
picks the proxy the process environment sets for an http(s) URL, with the
rules of Go's ``httpproxy`` package that Flux's controllers use:
``HTTPS_PROXY``/``https_proxy`` for https URLs, ``HTTP_PROXY``/``http_proxy``
for http (upper case first), an address without a scheme meaning ``http://``,
and ``NO_PROXY``/``no_proxy`` listing hosts to reach directly (``*`` for all;
``example.com`` matches it and its subdomains, ``.example.com`` only the
subdomains; IP addresses and CIDR ranges; an optional ``:port``). ``localhost``
and loopback addresses are never proxied. Both functions are pure.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import urllib.parse
from collections.abc import Mapping

from controllers.source.git import errors

SCHEMES = ("http", "https", "socks5", "socks5h")
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclasses.dataclass(frozen=True, repr=False)
class ProxyOptions:
    """A forward proxy (HTTP CONNECT/absolute-URL or SOCKS5) and optional credentials."""

    address: str
    username: str | None = None
    password: str | None = None

    @property
    def is_socks(self) -> bool:
        return urllib.parse.urlsplit(self.address).scheme.startswith("socks5")

    def __repr__(self) -> str:
        return f"ProxyOptions(address={self.address!r}, auth={self.username is not None})"


def _text(data: Mapping[str, bytes], key: str) -> str | None:
    value = data.get(key)
    return value.decode("utf-8").strip() if value else None


def _parse(address: str, *, origin: str) -> urllib.parse.SplitResult:
    parsed = urllib.parse.urlsplit(address)
    if parsed.scheme not in SCHEMES or not parsed.hostname:
        shown = parsed._replace(netloc=parsed.hostname or "").geturl() if parsed.scheme else "?"
        raise errors.AuthError(
            f"{origin} proxy address {shown!r} must be an http, https or socks5 URL"
        )
    return parsed


def from_secret(data: Mapping[str, bytes]) -> ProxyOptions:
    """The proxy of a ``proxySecretRef`` Secret's decoded data."""
    address = _text(data, "address")
    if address is None:
        raise errors.AuthError("proxy secret has no 'address'")
    _parse(address, origin="the secret's")
    username = _text(data, "username")
    return ProxyOptions(
        address=address,
        username=username,
        password=_text(data, "password") if username is not None else None,
    )


def _getenv(environ: Mapping[str, str], name: str) -> str:
    return environ.get(name.upper()) or environ.get(name.lower()) or ""


def from_environment(url: str, environ: Mapping[str, str]) -> ProxyOptions | None:
    """The environment's proxy for the http(s) ``url``, or None to connect directly."""
    target = urllib.parse.urlsplit(url)
    if target.scheme not in _DEFAULT_PORTS:
        return None
    address = _getenv(environ, f"{target.scheme}_proxy").strip()
    host = (target.hostname or "").lower()
    port = target.port or _DEFAULT_PORTS[target.scheme]
    if not address or not _use_proxy(host, port, _getenv(environ, "no_proxy")):
        return None
    if "://" not in address:
        address = f"http://{address}"
    parsed = _parse(address, origin=f"the {target.scheme.upper()}_PROXY")
    username = urllib.parse.unquote(parsed.username) if parsed.username else None
    password = urllib.parse.unquote(parsed.password or "") if username is not None else None
    netloc = parsed.hostname or ""
    if parsed.port is not None:
        netloc = f"{netloc}:{parsed.port}"
    return ProxyOptions(
        address=parsed._replace(netloc=netloc).geturl(), username=username, password=password
    )


def _use_proxy(host: str, port: int, no_proxy: str) -> bool:
    if host == "localhost":
        return False
    ip = _ip(host)
    if ip is not None and ip.is_loopback:
        return False
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return False
        if _matches(entry, host=host, ip=ip, port=port):
            return False
    return True


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _matches(
    entry: str,
    *,
    host: str,
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None,
    port: int,
) -> bool:
    if "/" in entry:
        try:
            return ip is not None and ip in ipaddress.ip_network(entry, strict=False)
        except ValueError:
            return False
    entry_host, entry_port = entry, None
    if entry.count(":") == 1 or entry.startswith("["):
        head, _, tail = entry.rpartition(":")
        if tail.isdigit():
            entry_host, entry_port = head, int(tail)
    if entry_port is not None and entry_port != port:
        return False
    entry_host = entry_host.strip("[]")
    entry_ip = _ip(entry_host)
    if entry_ip is not None:
        return ip == entry_ip
    if entry_host.startswith("*."):
        entry_host = entry_host[1:]
    if entry_host.startswith("."):
        return host.endswith(entry_host)
    return host == entry_host or host.endswith(f".{entry_host}")
