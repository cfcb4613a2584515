"""A Google Cloud Storage bucket over the JSON API (provider ``gcp``).

``Bucket`` checks the bucket exists (``GET /storage/v1/b/<bucket>``), lists
its objects (``/o`` with ``prefix``, paginated with ``nextPageToken``) and
downloads them (``alt=media``). Requests carry ``Authorization: Bearer``
when a token source is given (a service account key, ``tokens``), and none
otherwise (a public bucket, or an emulator).

The endpoint is the API's host, ``storage.googleapis.com`` (``https://`` is
added, or ``http://`` when ``insecure``); a full URL is taken as given. An
object's ETag in the index is the JSON API's ``etag`` as is, as Flux's
source-controller records it.
"""

from __future__ import annotations

import json
import pathlib
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping

import aiohttp
from yarl import URL

from controllers.source.bucket import clients

PAGE_SIZE = 1000
"""Objects per listing page (the API's maximum)."""

TokenSource = Callable[[], Awaitable[str]]


class Bucket:
    """One bucket at one endpoint."""

    def __init__(
        self,
        *,
        endpoint: URL,
        bucket: str,
        token: TokenSource | None,
        transport: clients.Transport,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.name = bucket
        self._base = endpoint.with_query(None)
        self._token = token
        self._page_size = page_size
        self._http = clients.Http(transport)

    async def close(self) -> None:
        await self._http.close()

    async def list(self, prefix: str | None) -> dict[str, str]:
        """object name → ETag, every object under ``prefix``."""
        subject = f"failed to confirm existence of '{self.name}' bucket"
        response = await self._get(f"/storage/v1/b/{_quote(self.name)}", {}, subject=subject)
        try:
            if response.status == 404:
                raise clients.NotFoundError(f"bucket '{self.name}' not found")
            await _check(response, subject)
        finally:
            response.release()
        found: dict[str, str] = {}
        page = ""
        subject = f"listing objects from bucket '{self.name}' failed"
        while True:
            query = {"maxResults": str(self._page_size), "fields": "items(name,etag),nextPageToken"}
            if prefix:
                query["prefix"] = prefix
            if page:
                query["pageToken"] = page
            answer = await self._json(f"/storage/v1/b/{_quote(self.name)}/o", query, subject)
            items = answer.get("items")
            for item in items if isinstance(items, list) else []:
                if isinstance(item, dict) and isinstance(item.get("name"), str):
                    found[item["name"]] = str(item.get("etag", ""))
            page = str(answer.get("nextPageToken") or "")
            if not page:
                return found

    async def download(self, key: str, target: pathlib.Path, *, optional: bool = False) -> bool:
        """Write object ``key`` to ``target``; False when ``optional`` and it does not exist."""
        subject = f"failed to get '{key}' object"
        path = f"/storage/v1/b/{_quote(self.name)}/o/{_quote(key)}"
        response = await self._get(path, {"alt": "media"}, subject=subject)
        return await self._http.save(
            response, target, optional=optional, check=lambda r: _check(r, subject)
        )

    async def _json(self, path: str, query: Mapping[str, str], subject: str) -> dict[str, object]:
        response = await self._get(path, query, subject=subject)
        try:
            await _check(response, subject)
            body = await response.read()
        finally:
            response.release()
        try:
            answer = json.loads(body)
        except ValueError as failed:
            raise clients.BucketError(f"{subject}: the answer is not JSON") from failed
        if not isinstance(answer, dict):
            raise clients.BucketError(f"{subject}: the answer is not a JSON object")
        return answer

    async def _get(
        self, path: str, query: Mapping[str, str], *, subject: str
    ) -> aiohttp.ClientResponse:
        prefix = self._base.raw_path.rstrip("/")
        url = self._base.with_path(prefix + path, encoded=True).with_query(query)
        headers = {}
        if self._token is not None:
            headers["Authorization"] = f"Bearer {await self._token()}"
        return await self._http.request("GET", url, headers=headers, subject=subject)


def _quote(name: str) -> str:
    return urllib.parse.quote(name, safe="")


async def _check(response: aiohttp.ClientResponse, subject: str) -> None:
    if response.status < 300:
        return
    detail = _message(await clients.error_text(response)) or response.reason or ""
    text = f"{subject}: {response.status} {detail}".rstrip()
    if response.status == 404:
        raise clients.NotFoundError(text)
    raise clients.BucketError(text)


def _message(body: str) -> str:
    try:
        answer = json.loads(body)
    except ValueError:
        return body.strip()[:200]
    error = answer.get("error") if isinstance(answer, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or "")
    return ""
