"""HTTP access to a Helm chart repository: credentials, TLS, streamed size-limited GETs.

Contract: ``options_for(url, secret=, cert_secret=, pass_credentials=, timeout=)``
turns Secret data into ``ClientOptions`` (or raises ``errors.AuthError``);
``fetch_index`` GETs ``<url>/index.yaml`` with ``If-None-Match`` when an ETag
is known and returns ``IndexResponse`` (``not_modified`` on 304) with the
body's sha256 digest computed while streaming; ``download`` GETs a chart.
Both refuse a body over ``max_size`` while it streams ("... exceeds the
maximum ... size of N bytes"), never buffering more than the limit.

Credentials follow Helm: ``username``/``password`` from ``secretRef`` go to
the repository's own host, and to other hosts (a chart URL elsewhere) only
with ``passCredentials``. TLS comes from ``certSecretRef`` (``ca.crt``,
``tls.crt``, ``tls.key``) or, deprecated, from ``caFile``/``certFile``/
``keyFile`` in ``secretRef`` when ``certSecretRef`` is not set.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import ssl
import tempfile
import urllib.parse
from collections.abc import Mapping

import aiohttp

from controllers.source.helm import errors
from shared.artifacts import digests

SecretData = Mapping[str, bytes]
_CHUNK = 1 << 16
DEPRECATED_TLS_KEYS = ("caFile", "certFile", "keyFile")


@dataclasses.dataclass(frozen=True)
class ClientOptions:
    """How to talk to one repository."""

    url: str
    """The repository URL, without a trailing slash."""
    username: str | None = None
    password: str | None = None
    pass_credentials: bool = False
    ssl_context: ssl.SSLContext | None = None
    timeout: float = 60.0
    deprecated_tls: bool = False
    """TLS data came from the deprecated keys of ``secretRef`` (worth a log line)."""

    def auth_for(self, url: str) -> dict[str, str]:
        """Authorization for ``url``: on the repository's host, or any with passCredentials."""
        if self.username is None:
            return {}
        same_host = urllib.parse.urlsplit(url).netloc == urllib.parse.urlsplit(self.url).netloc
        if same_host or self.pass_credentials:
            return {"Authorization": aiohttp.encode_basic_auth(self.username, self.password or "")}
        return {}


def normalize_url(url: str) -> str:
    """The repository URL without trailing slashes; ``InvalidUrlError`` unless http(s)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "oci":
        raise errors.InvalidUrlError(
            "invalid Helm repository URL: 'oci' URL scheme cannot be used with 'default'"
            " HelmRepository type"
        )
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise errors.InvalidUrlError(f"invalid Helm repository URL: '{url}'")
    return url.rstrip("/")


def _text(data: SecretData, key: str) -> str | None:
    value = data.get(key)
    return value.decode("utf-8", "replace") if value is not None else None


def _ssl_context(tls: SecretData, *, ca: str, cert: str, key: str) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if tls.get(ca) is not None:
        try:
            context.load_verify_locations(cadata=tls[ca].decode("ascii"))
        except (ssl.SSLError, UnicodeDecodeError, ValueError) as exc:
            raise errors.AuthError(f"failed to append certificates from {ca}: {exc}") from exc
    if (tls.get(cert) is None) != (tls.get(key) is None):
        raise errors.AuthError(f"secret must contain both {cert} and {key}, or neither")
    if tls.get(cert) is not None:
        # NB: ssl loads a key pair only from files; they live for this call only.
        with tempfile.TemporaryDirectory(prefix="helm-tls-") as directory:
            cert_path = os.path.join(directory, "tls.crt")
            key_path = os.path.join(directory, "tls.key")
            for path, content in ((cert_path, tls[cert]), (key_path, tls[key])):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(content)
            try:
                context.load_cert_chain(cert_path, key_path)
            except ssl.SSLError as exc:
                raise errors.AuthError(f"invalid client certificate or key: {exc}") from exc
    return context


def options_for(
    url: str,
    *,
    secret: SecretData | None = None,
    cert_secret: SecretData | None = None,
    pass_credentials: bool = False,
    timeout: float = 60.0,
) -> ClientOptions:
    """Build the options for repository ``url`` from its Secrets' data."""
    username = password = None
    if secret is not None:
        username, password = _text(secret, "username"), _text(secret, "password")
        if (username is None) != (password is None):
            raise errors.AuthError(
                "invalid 'basic-auth' secret data: required fields username, password"
            )
    context = None
    deprecated = False
    if cert_secret is not None:
        context = _ssl_context(cert_secret, ca="ca.crt", cert="tls.crt", key="tls.key")
    elif secret is not None and any(k in secret for k in DEPRECATED_TLS_KEYS):
        context = _ssl_context(secret, ca="caFile", cert="certFile", key="keyFile")
        deprecated = True
    return ClientOptions(
        url=url.rstrip("/"),
        username=username,
        password=password,
        pass_credentials=pass_credentials,
        ssl_context=context,
        timeout=timeout,
        deprecated_tls=deprecated,
    )


@dataclasses.dataclass(frozen=True)
class IndexResponse:
    """One index fetch: the body (None when not modified), its digest and ETag."""

    not_modified: bool
    body: bytes | None = None
    digest: str | None = None
    etag: str | None = None


def _refused(url: str, response: aiohttp.ClientResponse) -> errors.FetchError:
    # Helm's getter wording: "failed to fetch <url> : <status line>".
    return errors.FetchError(f"failed to fetch {url} : {response.status} {response.reason}")


async def _read_limited(
    response: aiohttp.ClientResponse, *, max_size: int, what: str
) -> tuple[bytes, str]:
    """The body and its sha256 digest; ``FetchError`` once it passes ``max_size``."""
    too_large = errors.FetchError(f"{what} exceeds the maximum {what} size of {max_size} bytes")
    if response.content_length is not None and response.content_length > max_size:
        raise too_large
    hasher = hashlib.sha256()
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > max_size:
            raise too_large
        hasher.update(chunk)
        chunks.append(chunk)
    return b"".join(chunks), digests.format_digest(digests.CANONICAL, hasher.hexdigest())


async def _get(
    session: aiohttp.ClientSession,
    options: ClientOptions,
    url: str,
    *,
    headers: dict[str, str],
    max_size: int,
    what: str,
) -> tuple[int, bytes, str, str | None]:
    try:
        async with session.get(
            url,
            headers={**headers, **options.auth_for(url)},
            ssl=options.ssl_context if options.ssl_context is not None else True,
            timeout=aiohttp.ClientTimeout(total=options.timeout),
        ) as response:
            if response.status == 304:
                return 304, b"", "", response.headers.get("ETag")
            if response.status != 200:
                raise _refused(url, response)
            body, digest = await _read_limited(response, max_size=max_size, what=what)
            return 200, body, digest, response.headers.get("ETag")
    except TimeoutError as exc:
        raise errors.FetchError(
            f"failed to fetch {url} : timeout after {options.timeout:g}s"
        ) from exc
    except aiohttp.ClientError as exc:
        raise errors.FetchError(f"failed to fetch {url} : {exc}") from exc


async def fetch_index(
    session: aiohttp.ClientSession,
    options: ClientOptions,
    *,
    etag: str | None,
    max_size: int,
) -> IndexResponse:
    """GET the repository's ``index.yaml``, conditional on ``etag`` when given."""
    url = f"{options.url}/index.yaml"
    headers = {"If-None-Match": etag} if etag else {}
    status, body, digest, new_etag = await _get(
        session, options, url, headers=headers, max_size=max_size, what="index"
    )
    if status == 304:
        return IndexResponse(not_modified=True, etag=new_etag or etag)
    return IndexResponse(not_modified=False, body=body, digest=digest, etag=new_etag)


async def download(
    session: aiohttp.ClientSession, options: ClientOptions, url: str, *, max_size: int
) -> bytes:
    """GET a chart archive (``url`` relative to the repository, or absolute)."""
    resolved = urllib.parse.urljoin(options.url + "/", url)
    _, body, _, _ = await _get(
        session, options, resolved, headers={}, max_size=max_size, what="chart"
    )
    return body
