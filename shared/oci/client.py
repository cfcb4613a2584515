"""The registry API: tags, manifests, blobs, and pushing them.

One ``Client`` talks to one registry host with one set of credentials (see
``transport.Connection``); the ``aiohttp.ClientSession`` and the
``TokenCache`` are the caller's, shared across clients of a process. Reads
need ``pull`` access to the repository, pushes ``pull,push``.

Contracts:

- ``list_tags`` follows ``Link: <…>; rel="next"`` until the last page
  (``page_size`` sets ``n``, ``last`` where to start); links to another
  origin are refused.
- ``get_manifest`` sends ``mediatypes.ACCEPT``, reads at most
  ``max_manifest_size`` bytes, and verifies the bytes against the digest
  asked for, else against ``Docker-Content-Digest`` when the registry sends
  one. ``head_manifest`` returns the descriptor without the body (the cheap
  "has the tag moved?" question).
- ``open_blob`` streams a blob: its chunks are hashed as they pass, the
  size limit is checked against ``Content-Length`` and then while reading,
  and the digest is checked after the last chunk — a consumer treats the
  data as untrusted until the iteration has ended without an error.
  ``fetch_blob`` streams into a file and removes it on any failure.
- ``referrers`` lists the manifests that name a digest as their
  ``subject``: the referrers API, else the referrers tag schema's index.
- ``push_blob`` skips a blob the repository has, otherwise starts an upload
  (``POST``) and finishes it in one ``PUT`` or, with ``chunk_size``, in
  ``PATCH`` chunks and a closing ``PUT``; files are read in chunks, never
  whole. ``push_manifest`` puts a manifest under a tag or digest; ``tag``
  copies an existing manifest to a new tag.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import pathlib
from collections.abc import AsyncIterator
from typing import IO, Final

import aiohttp
from yarl import URL

from shared.oci import challenges, digests, errors, manifests, mediatypes, tokens, transport

MAX_MANIFEST_SIZE: Final = 4 * 1024 * 1024
"""The default limit on a manifest's size (distribution's own limit)."""
MAX_TAG_PAGE_SIZE: Final = 16 * 1024 * 1024
"""The limit on one page of a tag list, in bytes."""
CHUNK_SIZE: Final = 1 << 16
_WRITE_BATCH: Final = 1 << 20
_OCTET_STREAM: Final = "application/octet-stream"


class BlobReader:
    """An open blob download: iterate ``chunks()`` once; the digest is checked at its end."""

    def __init__(
        self,
        response: aiohttp.ClientResponse,
        *,
        digest: str,
        max_size: int | None,
        subject: str,
    ) -> None:
        self._response = response
        self._verifier = digests.Verifier(digest, subject=subject)
        self._max_size = max_size
        self._subject = subject
        self.size = response.content_length
        """The size the registry announced (None when it sent no ``Content-Length``)."""
        if max_size is not None and self.size is not None and self.size > max_size:
            raise errors.TooLargeError(subject=subject, limit=max_size, size=self.size)

    async def chunks(self, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
        """The blob's bytes in chunks; raises after the last one if the digest differs."""
        iterator = self._response.content.iter_chunked(chunk_size)
        while True:
            try:
                chunk = await anext(iterator)
            except StopAsyncIteration:
                break
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                raise errors.TransportError(f"{self._subject}: {exc or 'timed out'}") from exc
            self._verifier.update(chunk)
            if self._max_size is not None and self._verifier.size > self._max_size:
                raise errors.TooLargeError(subject=self._subject, limit=self._max_size)
            yield chunk
        self._verifier.check()


class Client:
    """Registry operations on one host; see the module docstring for each contract."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        connection: transport.Connection,
        *,
        token_cache: tokens.TokenCache,
        max_manifest_size: int = MAX_MANIFEST_SIZE,
    ) -> None:
        self._transport = transport.Transport(session, connection, token_cache=token_cache)
        self._base = connection.base_url
        self.host = connection.host
        self.max_manifest_size = max_manifest_size

    # --- reading ---------------------------------------------------------------------------

    async def list_tags(
        self, repository: str, *, page_size: int | None = None, last: str | None = None
    ) -> list[str]:
        """Every tag of ``repository`` in the registry's order, page after page."""
        query = {key: str(value) for key, value in (("n", page_size), ("last", last)) if value}
        url: URL | None = self._url(repository, "tags/list").with_query(query)
        subject = f"listing tags of {self.host}/{repository}"
        tags: list[str] = []
        while url is not None:
            async with self._request("GET", url, repository, subject=subject) as response:
                document = await _json(response, subject=subject, limit=MAX_TAG_PAGE_SIZE)
                url = self._next_page(response)
            page = document.get("tags") or []
            if not isinstance(page, list):
                raise errors.InvalidContentError(f"{subject}: 'tags' is not a list")
            tags.extend(str(tag) for tag in page)
        return tags

    async def head_manifest(self, repository: str, reference: str) -> manifests.Descriptor:
        """The descriptor of the manifest under a tag or digest, without its body."""
        subject = self._manifest_subject(repository, reference)
        async with self._manifest_request("HEAD", repository, reference) as response:
            digest = response.headers.get("Docker-Content-Digest") or (
                reference if digests.is_digest(reference) else ""
            )
            if not digest:
                raise errors.InvalidContentError(f"{subject}: no Docker-Content-Digest header")
            digests.parse(digest)
            return manifests.Descriptor(
                media_type=response.content_type,
                digest=digest,
                size=response.content_length or 0,
            )

    async def get_manifest(self, repository: str, reference: str) -> manifests.Manifest:
        """The manifest or index under a tag or digest, its digest verified."""
        subject = self._manifest_subject(repository, reference)
        async with self._manifest_request("GET", repository, reference) as response:
            data = await _read_limited(response, subject=subject, limit=self.max_manifest_size)
            announced = response.headers.get("Docker-Content-Digest")
            content_type = response.content_type
        expected = reference if digests.is_digest(reference) else announced
        if expected:
            digests.verify(data, expected, subject=subject)
        manifest = manifests.Manifest(
            media_type=content_type, digest=expected or digests.of(data), data=data
        )
        if content_type not in (*mediatypes.MANIFESTS, *mediatypes.INDEXES):
            # Some registries serve a generic type; the document says what it is.
            declared = manifest.document.get("mediaType")
            if not isinstance(declared, str) or not declared:
                raise errors.InvalidContentError(f"{subject}: unknown media type {content_type}")
            manifest = manifests.Manifest(media_type=declared, digest=manifest.digest, data=data)
        return manifest

    async def referrers(self, repository: str, digest: str) -> list[manifests.Descriptor]:
        """The manifests whose ``subject`` is ``digest`` (OCI 1.1 referrers).

        Asks the referrers API; a registry without it answers 404, and then
        the referrers tag schema's index (tag ``sha256-<hex>``) is read;
        none there means no referrers.
        """
        subject = f"referrers of {self.host}/{repository}@{digest}"
        url = self._url(repository, f"referrers/{digest}")
        try:
            async with self._request(
                "GET", url, repository, subject=subject,
                headers={"Accept": mediatypes.OCI_INDEX},
            ) as response:  # fmt: skip
                document = await _json(response, subject=subject, limit=self.max_manifest_size)
        except errors.NotFoundError:
            try:
                index = await self.get_manifest(repository, referrers_tag(digest))
            except errors.NotFoundError:
                return []
            return index.children
        listed = document.get("manifests") or []
        if not isinstance(listed, list):
            raise errors.InvalidContentError(f"{subject}: 'manifests' is not a list")
        return [manifests.Descriptor.from_json(raw, subject=subject) for raw in listed]

    async def blob_exists(self, repository: str, digest: str) -> bool:
        """Whether the repository has the blob (a HEAD request)."""
        url = self._url(repository, f"blobs/{digest}")
        try:
            async with self._request(
                "HEAD", url, repository, subject=self._blob(repository, digest),
                not_found=errors.BlobUnknownError,
            ):  # fmt: skip
                return True
        except errors.NotFoundError:
            return False

    @contextlib.asynccontextmanager
    async def open_blob(
        self, repository: str, digest: str, *, max_size: int | None = None
    ) -> AsyncIterator[BlobReader]:
        """An open download of a blob; see ``BlobReader``."""
        digests.parse(digest)
        subject = self._blob(repository, digest)
        url = self._url(repository, f"blobs/{digest}")
        async with self._request(
            "GET", url, repository, subject=subject, not_found=errors.BlobUnknownError
        ) as response:
            yield BlobReader(response, digest=digest, max_size=max_size, subject=subject)

    async def fetch_blob(
        self,
        repository: str,
        digest: str,
        destination: str | os.PathLike[str],
        *,
        max_size: int | None = None,
    ) -> int:
        """Stream a blob into the file ``destination``; its size. The file is removed on failure."""
        path = pathlib.Path(destination)
        size = 0
        stream: IO[bytes] = await asyncio.to_thread(path.open, "wb")
        try:
            async with self.open_blob(repository, digest, max_size=max_size) as blob:
                batch = bytearray()
                async for chunk in blob.chunks():
                    batch += chunk
                    size += len(chunk)
                    if len(batch) >= _WRITE_BATCH:
                        await asyncio.to_thread(stream.write, bytes(batch))
                        batch.clear()
                await asyncio.to_thread(stream.write, bytes(batch))
        except BaseException:
            stream.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            raise
        stream.close()
        return size

    # --- pushing ---------------------------------------------------------------------------

    async def push_blob(
        self,
        repository: str,
        source: bytes | str | os.PathLike[str],
        *,
        media_type: str = _OCTET_STREAM,
        chunk_size: int | None = None,
    ) -> manifests.Descriptor:
        """Upload bytes or a file as a blob (skipped when present); its descriptor."""
        if isinstance(source, bytes):
            digest, size = digests.of(source), len(source)
        else:
            digest, size = await asyncio.to_thread(_file_digest, pathlib.Path(source))
        descriptor = manifests.Descriptor(media_type=media_type, digest=digest, size=size)
        if await self.blob_exists(repository, digest):
            return descriptor
        subject = f"uploading {self._blob(repository, digest)}"
        push = challenges.repository_scope(repository, "pull", "push")
        start = self._url(repository, "blobs/uploads/")
        async with self._request("POST", start, repository, subject=subject, scope=push,
                                 headers={"Content-Length": "0"}) as response:  # fmt: skip
            location = self._location(response, subject=subject)
        body: transport.Body = source if isinstance(source, bytes) else None
        if chunk_size is not None and size > chunk_size:
            offset = 0
            async for chunk in _chunks(source, chunk_size):
                headers = {
                    "Content-Type": _OCTET_STREAM,
                    "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
                    "Content-Length": str(len(chunk)),
                }
                async with self._request(
                    "PATCH", location, repository, subject=subject, scope=push,
                    headers=headers, body=chunk,
                ) as response:  # fmt: skip
                    location = self._location(response, subject=subject)
                offset += len(chunk)
            body, size_sent = None, 0
        else:
            if body is None:
                path = pathlib.Path(os.fspath(source))  # type: ignore[arg-type]
                body = lambda: _file_chunks(path, CHUNK_SIZE)  # noqa: E731
            size_sent = size
        headers = {"Content-Type": _OCTET_STREAM, "Content-Length": str(size_sent)}
        async with self._request(
            "PUT", location.update_query(digest=digest), repository, subject=subject,
            scope=push, headers=headers, body=body,
        ) as response:  # fmt: skip
            _check_announced(response, digest, subject=subject)
        return descriptor

    async def push_manifest(
        self, repository: str, reference: str, data: bytes, *, media_type: str
    ) -> manifests.Descriptor:
        """Put a manifest or index under a tag or digest; its descriptor."""
        digest = digests.of(data)
        if digests.is_digest(reference):
            digests.verify(data, reference, subject=self._manifest_subject(repository, reference))
        subject = f"pushing {self._manifest_subject(repository, reference)}"
        async with self._request(
            "PUT", self._url(repository, f"manifests/{reference}"), repository, subject=subject,
            scope=challenges.repository_scope(repository, "pull", "push"),
            headers={"Content-Type": media_type}, body=data,
        ) as response:  # fmt: skip
            _check_announced(response, digest, subject=subject)
        return manifests.Descriptor(media_type=media_type, digest=digest, size=len(data))

    async def tag(self, repository: str, reference: str, tag: str) -> manifests.Descriptor:
        """Point ``tag`` at the manifest under ``reference`` (a tag or digest)."""
        manifest = await self.get_manifest(repository, reference)
        return await self.push_manifest(
            repository, tag, manifest.data, media_type=manifest.media_type
        )

    # --- helpers ---------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        url: URL,
        repository: str,
        *,
        subject: str,
        scope: str | None = None,
        headers: dict[str, str] | None = None,
        body: transport.Body = None,
        not_found: type[errors.NotFoundError] = errors.NotFoundError,
    ) -> contextlib.AbstractAsyncContextManager[aiohttp.ClientResponse]:
        return self._transport.request(
            method, url, subject=subject, headers=headers, body=body, not_found=not_found,
            scope=scope or challenges.repository_scope(repository, "pull"),
        )  # fmt: skip

    def _manifest_request(
        self, method: str, repository: str, reference: str
    ) -> contextlib.AbstractAsyncContextManager[aiohttp.ClientResponse]:
        return self._request(
            method, self._url(repository, f"manifests/{reference}"), repository,
            subject=self._manifest_subject(repository, reference),
            headers={"Accept": mediatypes.ACCEPT}, not_found=errors.ManifestUnknownError,
        )  # fmt: skip

    def _url(self, repository: str, rest: str) -> URL:
        return self._base.with_path(f"/v2/{repository}/{rest}")

    def _same_origin(self, url: URL, *, subject: str) -> URL:
        if url.origin() != self._base.origin():
            raise errors.InvalidContentError(f"{subject}: the registry sent us to {url.origin()}")
        return url

    def _next_page(self, response: aiohttp.ClientResponse) -> URL | None:
        link = response.links.get("next")
        if link is None:
            return None
        target = response.url.join(URL(str(link.get("url"))))
        return self._same_origin(target, subject="tag list Link header")

    def _location(self, response: aiohttp.ClientResponse, *, subject: str) -> URL:
        location = response.headers.get("Location")
        if not location:
            raise errors.InvalidContentError(f"{subject}: the answer has no Location header")
        return self._same_origin(response.url.join(URL(location)), subject=subject)

    def _manifest_subject(self, repository: str, reference: str) -> str:
        separator = "@" if digests.is_digest(reference) else ":"
        return f"manifest {self.host}/{repository}{separator}{reference}"

    def _blob(self, repository: str, digest: str) -> str:
        return f"blob {self.host}/{repository}@{digest}"


def referrers_tag(digest: str) -> str:
    """The referrers tag schema's tag for ``digest``: ``<algorithm>-<hex>``."""
    algorithm, _, hex_digest = digest.partition(":")
    return f"{algorithm}-{hex_digest}"


async def _read_limited(response: aiohttp.ClientResponse, *, subject: str, limit: int) -> bytes:
    if response.content_length is not None and response.content_length > limit:
        raise errors.TooLargeError(subject=subject, limit=limit, size=response.content_length)
    try:
        data = await response.content.read(limit + 1)
        while len(data) <= limit and (more := await response.content.read(limit + 1 - len(data))):
            data += more
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise errors.TransportError(f"{subject}: {exc or 'timed out'}") from exc
    if len(data) > limit:
        raise errors.TooLargeError(subject=subject, limit=limit)
    return data


async def _json(response: aiohttp.ClientResponse, *, subject: str, limit: int) -> dict[str, object]:
    raw = await _read_limited(response, subject=subject, limit=limit)
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.InvalidContentError(f"{subject}: the answer is not JSON") from exc
    if not isinstance(document, dict):
        raise errors.InvalidContentError(f"{subject}: the answer is not a JSON object")
    return document


def _check_announced(response: aiohttp.ClientResponse, digest: str, *, subject: str) -> None:
    announced = response.headers.get("Docker-Content-Digest")
    if announced and announced != digest:
        raise errors.DigestMismatchError(subject=subject, expected=digest, actual=announced)


def _file_digest(path: pathlib.Path) -> tuple[str, int]:
    hasher = hashlib.new(digests.CANONICAL)
    size = 0
    with path.open("rb") as stream:
        while chunk := stream.read(_WRITE_BATCH):
            hasher.update(chunk)
            size += len(chunk)
    return f"{digests.CANONICAL}:{hasher.hexdigest()}", size


async def _file_chunks(path: pathlib.Path, chunk_size: int) -> AsyncIterator[bytes]:
    stream: IO[bytes] = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(stream.read, chunk_size):
            yield chunk
    finally:
        stream.close()


async def _chunks(source: bytes | str | os.PathLike[str], chunk_size: int) -> AsyncIterator[bytes]:
    if isinstance(source, bytes):
        for start in range(0, len(source), chunk_size):
            yield source[start : start + chunk_size]
    else:
        async for chunk in _file_chunks(pathlib.Path(source), chunk_size):
            yield chunk
