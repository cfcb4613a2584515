"""Secret data → typed authentication options for one Git remote.

Contract: ``options_for`` takes the *decoded* data of the GitRepository's
``spec.secretRef`` Secret (and of ``spec.proxySecretRef``), validates it the way
Flux does for the URL's scheme and returns frozen options. It performs no I/O
(the environment it reads is a mapping argument, ``os.environ`` by default).
Problems with the data raise ``errors.AuthError`` (reason AuthenticationFailed);
an unsupported URL raises ``errors.InvalidUrlError``.

Keys read (Flux's names):

- http/https: ``username`` + ``password`` (basic auth) or ``bearerToken``;
  ``ca.crt`` (legacy ``caFile``) to trust a private CA; ``tls.crt`` + ``tls.key``
  for a client certificate (https only).
- ssh: ``identity`` (private key, PEM or OpenSSH format), ``known_hosts``
  (required: host keys are always checked), ``password`` (the key's passphrase).
  The user name comes from the URL (``ssh://user@host/...``), ``git`` by default.
- proxy Secret: ``address`` (required; http, https or socks5), ``username``,
  ``password`` (``proxies.from_secret``). Without a proxy Secret, an http(s)
  remote uses the proxy the environment sets (``HTTPS_PROXY``, ``HTTP_PROXY``,
  ``NO_PROXY``; ``proxies.from_environment``), as Flux does; the Secret takes
  precedence over the environment. An ssh remote takes only a ``socks5``
  proxy, and only from the Secret (as Flux's SSH transport).
"""

from __future__ import annotations

import dataclasses
import os
import urllib.parse
from collections.abc import Mapping
from typing import Literal

from controllers.source.git import errors, proxies
from controllers.source.git.proxies import ProxyOptions
from shared import gitssh

SecretData = Mapping[str, bytes]
Scheme = Literal["http", "https", "ssh", "git"]
"""``git`` (git daemon) is accepted only for submodule URLs; the CRD refuses it."""

DEFAULT_SSH_USER = "git"


@dataclasses.dataclass(frozen=True, repr=False)
class HttpAuth:
    """Credentials and TLS material for an http(s) remote; every field optional."""

    username: str | None = None
    password: str | None = None
    bearer_token: str | None = None
    ca_pem: bytes | None = None
    cert_pem: bytes | None = None
    key_pem: bytes | None = None

    def __repr__(self) -> str:
        # NB: never let secrets reach logs through a repr.
        return (
            f"HttpAuth(basic={self.username is not None}, bearer={self.bearer_token is not None},"
            f" ca={self.ca_pem is not None}, client_cert={self.cert_pem is not None})"
        )


@dataclasses.dataclass(frozen=True)
class SshAuth:
    """The user to log in as, and the SSH identity and host keys (their repr hides secrets)."""

    username: str
    key: gitssh.Key


@dataclasses.dataclass(frozen=True)
class AuthOptions:
    """Everything needed to open a transport to ``url``."""

    url: str
    scheme: Scheme
    http: HttpAuth = dataclasses.field(default_factory=HttpAuth)
    ssh: SshAuth | None = None
    proxy: ProxyOptions | None = None


def scheme_of(url: str) -> Scheme:
    """The URL's scheme, or InvalidUrlError when it is not one Git sources support."""
    parsed = urllib.parse.urlsplit(url)
    scheme = parsed.scheme.lower()
    if scheme not in ("http", "https", "ssh", "git") or not parsed.hostname:
        raise errors.InvalidUrlError(
            f"URL {redact(url)!r} is not supported: want http://, https:// or ssh://host/path"
        )
    return scheme  # type: ignore[return-value]


def redact(url: str) -> str:
    """``url`` without any user-info password (safe for messages and logs)."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.password is None:
        return url
    netloc = parsed.hostname or ""
    if parsed.port is not None:
        netloc = f"{netloc}:{parsed.port}"
    if parsed.username:
        netloc = f"{parsed.username}:***@{netloc}"
    return urllib.parse.urlunsplit(parsed._replace(netloc=netloc))


def _text(data: SecretData, key: str) -> str | None:
    value = data.get(key)
    if value is None or value == b"":
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise errors.AuthError(f"secret key {key!r} is not valid UTF-8") from exc


def _bytes(data: SecretData, key: str) -> bytes | None:
    value = data.get(key)
    return value if value else None


def _http_auth(data: SecretData, *, scheme: Scheme) -> HttpAuth:
    username = _text(data, "username")
    password = _text(data, "password")
    bearer = _text(data, "bearerToken")
    if bearer is not None and (username is not None or password is not None):
        raise errors.AuthError("secret sets both basic auth (username/password) and bearerToken")
    if password is not None and username is None:
        raise errors.AuthError("secret sets password without username")
    ca = _bytes(data, "ca.crt") or _bytes(data, "caFile")
    cert = _bytes(data, "tls.crt")
    key = _bytes(data, "tls.key")
    if (cert is None) != (key is None):
        raise errors.AuthError("secret must set both tls.crt and tls.key, or neither")
    if scheme == "http" and cert is not None:
        raise errors.AuthError("a TLS client certificate needs an https:// URL")
    return HttpAuth(
        username=username,
        password=password if username is not None else None,
        bearer_token=bearer,
        ca_pem=ca,
        cert_pem=cert,
        key_pem=key,
    )


def _ssh_auth(data: SecretData, *, url: str) -> SshAuth:
    identity = _bytes(data, "identity")
    known_hosts = _bytes(data, "known_hosts")
    if identity is None:
        raise errors.AuthError("secret for an ssh:// URL has no 'identity' (private key)")
    if known_hosts is None:
        raise errors.AuthError("secret for an ssh:// URL has no 'known_hosts'")
    username = urllib.parse.urlsplit(url).username or DEFAULT_SSH_USER
    key = gitssh.Key(
        identity_pem=identity if identity.endswith(b"\n") else identity + b"\n",
        known_hosts=known_hosts,
        passphrase=_text(data, "password"),
    )
    return SshAuth(username=username, key=key)


def options_for(
    url: str,
    *,
    secret_data: SecretData | None = None,
    proxy_data: SecretData | None = None,
    environ: Mapping[str, str] | None = None,
) -> AuthOptions:
    """Validate ``secret_data``/``proxy_data`` for ``url`` and return the options."""
    scheme = scheme_of(url)
    data: SecretData = secret_data or {}
    proxy = proxies.from_secret(proxy_data) if proxy_data is not None else None
    if scheme == "ssh":
        if proxy is not None and not proxy.is_socks:
            raise errors.AuthError(
                "an http(s) proxy is supported for http(s) URLs only; ssh:// needs a socks5 one"
            )
        # NB: no secret is an error too: ambient keys (~/.ssh) must never be used.
        return AuthOptions(url=url, scheme=scheme, ssh=_ssh_auth(data, url=url), proxy=proxy)
    if scheme == "git":
        return AuthOptions(url=url, scheme=scheme)
    if proxy is None:
        proxy = proxies.from_environment(url, os.environ if environ is None else environ)
    return AuthOptions(url=url, scheme=scheme, http=_http_auth(data, scheme=scheme), proxy=proxy)
