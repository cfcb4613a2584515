"""An Azure Blob Storage container over the Blob service REST API (provider ``azure``).

``Container`` lists blobs (``comp=list``, paginated with ``NextMarker``) and
downloads them. Authentication, as ``Auth`` says:

- ``SharedKey``: the account key, each request signed (HMAC-SHA256 of the
  canonical request, the Blob service's Shared Key scheme);
- ``Sas``: a SAS token's query merged into every URL (the token's values
  win over the endpoint's, as in Flux);
- ``Bearer``: an OAuth access token from ``tokens`` (a service principal's
  client secret, or the environment's);
- none: anonymous requests, for a public container.

The endpoint is the account's service URL, ``https://<account>.blob.core.windows.net``;
the account name (for Shared Key) is its first DNS label. For an IP address
or ``localhost`` host (an emulator such as Azurite, addressed path-style as
``http://127.0.0.1:10000/<account>``) it is the first path segment, as the
Azure SDKs read it.

A blob's ETag in the index is the hex encoding of the ETag text the listing
returns, as Flux's source-controller writes it, so revisions agree.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import hashlib
import hmac
import ipaddress
import pathlib
import urllib.parse
import xml.etree.ElementTree as ElementTree
from collections.abc import Awaitable, Callable, Mapping

import aiohttp
from yarl import URL

from controllers.source.bucket import clients

API_VERSION = "2021-08-06"
PAGE_SIZE = 5000
"""Blobs per listing page (the service's maximum)."""


@dataclasses.dataclass(frozen=True)
class SharedKey:
    account_key: str
    """The base64 account key."""


@dataclasses.dataclass(frozen=True)
class Sas:
    token: str
    """The SAS query, with or without its leading ``?``."""


@dataclasses.dataclass(frozen=True)
class Bearer:
    token: Callable[[], Awaitable[str]]
    """Returns a valid access token for ``https://storage.azure.com`` (cached by its maker)."""


Auth = SharedKey | Sas | Bearer | None


def account_name(endpoint: URL) -> str:
    """The storage account named by ``endpoint``; ``BucketError`` when it names none."""
    host = endpoint.host or ""
    if _is_local(host):
        segments = [s for s in endpoint.path.split("/") if s]
        if segments:
            return segments[0]
        raise clients.BucketError(
            f"failed to extract account name from endpoint: expected '{endpoint}' to have "
            "the account as its first path segment"
        )
    labels = host.split(".")
    if len(labels) <= 2:
        raise clients.BucketError(
            f"failed to extract account name from endpoint: expected '{host}' to be a subdomain"
        )
    return labels[0]


def merge_sas(endpoint: URL, token: str) -> URL:
    """``endpoint`` with the SAS token's query merged in (the token's values win)."""
    try:
        values = urllib.parse.parse_qs(token.removeprefix("?"), strict_parsing=True)
    except ValueError:
        raise clients.BucketError("unable to parse SAS token") from None
    merged = {k: v for k, v in urllib.parse.parse_qs(endpoint.query_string).items()}
    merged.update(values)
    query = urllib.parse.urlencode([(k, v) for k, vs in merged.items() for v in vs])
    return endpoint.with_query(None).with_query(query)


class Container:
    """One container of one storage account."""

    def __init__(
        self,
        *,
        endpoint: URL,
        container: str,
        auth: Auth,
        transport: clients.Transport,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.name = container
        self._auth = auth
        self._page_size = page_size
        self._account = account_name(endpoint) if isinstance(auth, SharedKey) else ""
        base = merge_sas(endpoint, auth.token) if isinstance(auth, Sas) else endpoint
        self._query = dict(base.query)
        self._base = base.with_query(None)
        self._http = clients.Http(transport)

    async def close(self) -> None:
        await self._http.close()

    async def list(self, prefix: str | None) -> dict[str, str]:
        """blob name → hex of its ETag, every blob under ``prefix``."""
        found: dict[str, str] = {}
        marker = ""
        while True:
            query = {"restype": "container", "comp": "list", "maxresults": str(self._page_size)}
            if prefix:
                query["prefix"] = prefix
            if marker:
                query["marker"] = marker
            subject = f"listing objects from bucket '{self.name}'"
            response = await self._get(self._path(), query, subject=subject)
            try:
                if response.status == 404:
                    raise clients.NotFoundError(
                        f"bucket '{self.name}' not found", code=_code(response)
                    )
                await _check(response, subject)
                body = await response.read()
            finally:
                response.release()
            root = _parse(body, subject)
            for blob in root.iterfind("./Blobs/Blob"):
                name = blob.findtext("Name") or ""
                etag = blob.findtext("./Properties/Etag") or ""
                found[name] = etag.encode().hex()
            marker = root.findtext("NextMarker") or ""
            if not marker:
                return found

    async def download(self, key: str, target: pathlib.Path, *, optional: bool = False) -> bool:
        """Write blob ``key`` to ``target``; False when ``optional`` and it does not exist."""
        subject = f"failed to get '{key}' object"
        response = await self._get(self._path(key), {}, subject=subject)
        return await self._http.save(
            response, target, optional=optional, check=lambda r: _check(r, subject)
        )

    def _path(self, blob: str | None = None) -> str:
        """The encoded path of the container (or of one blob in it)."""
        path = self._base.raw_path.rstrip("/") + "/" + urllib.parse.quote(self.name, safe="")
        if blob is not None:
            path += "/" + urllib.parse.quote(blob, safe="/~")
        return path

    async def _get(
        self, path: str, query: Mapping[str, str], *, subject: str
    ) -> aiohttp.ClientResponse:
        merged = {**self._query, **query}
        url = self._base.with_path(path, encoded=True).with_query(merged)
        headers = {
            "x-ms-version": API_VERSION,
            "x-ms-date": _now(),
        }
        if isinstance(self._auth, SharedKey):
            headers["Authorization"] = _shared_key(
                self._account, self._auth.account_key, path=path, query=merged, headers=headers
            )
        elif isinstance(self._auth, Bearer):
            headers["Authorization"] = f"Bearer {await self._auth.token()}"
        return await self._http.request("GET", url, headers=headers, subject=subject)


def _shared_key(
    account: str, key: str, *, path: str, query: Mapping[str, str], headers: Mapping[str, str]
) -> str:
    """The ``SharedKey`` Authorization of a body-less GET (the service's canonical form)."""
    canonical_headers = "".join(
        f"{name.lower()}:{value.strip()}\n"
        for name, value in sorted(headers.items(), key=lambda item: item[0].lower())
        if name.lower().startswith("x-ms-")
    )
    resource = f"/{account}{path}"
    for name in sorted(query, key=str.lower):
        resource += f"\n{name.lower()}:{query[name]}"
    # VERB, then eleven standard headers a GET without a body leaves empty.
    to_sign = "GET\n" + "\n" * 11 + canonical_headers + resource
    try:
        secret = base64.b64decode(key, validate=True)
    except ValueError:
        raise clients.BucketError("invalid accountKey: not base64") from None
    signature = hmac.new(secret, to_sign.encode(), hashlib.sha256).digest()
    return f"SharedKey {account}:{base64.b64encode(signature).decode()}"


async def _check(response: aiohttp.ClientResponse, subject: str) -> None:
    if response.status < 300:
        return
    code = _code(response)
    if code == "AuthenticationFailed":
        detail = (
            "the specified bucket name may be incorrect, nonexistent, or the caller might "
            "lack sufficient permissions to access it"
        )
    else:
        detail = _message(await clients.error_text(response)) or response.reason or ""
    text = f"{subject}: {response.status} {code}: {detail}".rstrip(": ")
    if response.status == 404:
        raise clients.NotFoundError(text, code=code)
    raise clients.BucketError(text)


def _code(response: aiohttp.ClientResponse) -> str:
    return response.headers.get("x-ms-error-code", "")


def _message(body: str) -> str:
    try:
        return (ElementTree.fromstring(body).findtext("Message") or "").split("\n")[0]
    except ElementTree.ParseError:
        return ""


def _parse(body: bytes, subject: str) -> ElementTree.Element:
    try:
        return ElementTree.fromstring(body)
    except ElementTree.ParseError as failed:
        raise clients.BucketError(f"{subject}: the answer is not XML: {failed}") from failed


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


def _is_local(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
