"""The artifact client other controllers use: download, verify, extract.

``fetched(...)`` is the one call a consumer needs: it downloads an artifact
URL into a fresh temporary directory, checks the digest from the source's
``status.artifact.digest``, extracts it safely (``extracting``) and yields
the extracted tree; the temporary directory is removed when the block ends,
whatever happens.

Downloads stream to disk and are hashed on the way, so memory does not grow
with the artifact. Each attempt has a total timeout. Connection errors,
timeouts, 5xx and 429 answers are retried with exponential backoff (as
Flux's retrying HTTP client does); 404 raises ArtifactNotFoundError at once
and other 4xx answers FetchError at once. A digest mismatch is not retried:
it means the artifact changed or was tampered with, and the caller should
re-read the source's status. The caller owns the ``aiohttp.ClientSession``
(one per process keeps connections alive across fetches).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import os
import pathlib
import shutil
import tempfile
from collections.abc import AsyncIterator
from typing import Final

import aiohttp

from shared.artifacts import digests, errors, extracting

_WRITE_BATCH: Final = 1 << 20
_RETRIABLE_STATUS: Final = frozenset({429, 500, 502, 503, 504})


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Attempts and backoff; defaults follow Flux's artifact fetcher (9 retries)."""

    retries: int = 9
    timeout: datetime.timedelta = datetime.timedelta(seconds=60)
    """Total time allowed for one attempt (connect, headers and body)."""
    backoff_initial: datetime.timedelta = datetime.timedelta(seconds=1)
    backoff_max: datetime.timedelta = datetime.timedelta(seconds=30)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (0-based)."""
        initial = self.backoff_initial.total_seconds()
        return float(min(initial * (2**attempt), self.backoff_max.total_seconds()))


@dataclasses.dataclass(frozen=True)
class Download:
    """A file that was downloaded and its digest."""

    path: pathlib.Path
    digest: str
    size: int


async def download(
    session: aiohttp.ClientSession,
    url: str,
    destination: str | os.PathLike[str],
    *,
    expected_digest: str | None = None,
    max_size: int | None = None,
    retry: RetryPolicy | None = None,
) -> Download:
    """Stream ``url`` into the file ``destination`` and verify it.

    ``max_size`` bounds the downloaded (compressed) bytes. The digest is
    computed with the algorithm of ``expected_digest`` (sha256 without one).
    """
    retry = retry or RetryPolicy()
    algorithm = digests.CANONICAL
    if expected_digest is not None:
        algorithm, _ = digests.parse_digest(expected_digest)
    target = pathlib.Path(destination)
    last_error: Exception | None = None
    for attempt in range(retry.retries + 1):
        if attempt:
            await asyncio.sleep(retry.delay(attempt - 1))
        try:
            result = await _attempt(
                session, url, target, algorithm=algorithm, max_size=max_size, retry=retry
            )
        except _RetriableError as exc:
            last_error = exc
            continue
        if expected_digest is not None and not digests.matches(expected_digest, result.digest):
            raise errors.DigestMismatchError(
                subject=url, expected=expected_digest, actual=result.digest
            )
        return result
    raise errors.FetchError(
        f"downloading {url} failed after {retry.retries + 1} attempts: {last_error}"
    ) from last_error


class _RetriableError(Exception):
    """An attempt failed in a way a later attempt may not."""


async def _attempt(
    session: aiohttp.ClientSession,
    url: str,
    target: pathlib.Path,
    *,
    algorithm: str,
    max_size: int | None,
    retry: RetryPolicy,
) -> Download:
    hasher = digests.new_hasher(algorithm)
    size = 0
    timeout = aiohttp.ClientTimeout(total=retry.timeout.total_seconds())
    try:
        async with session.get(url, timeout=timeout, auto_decompress=False) as response:
            if response.status == 404:
                raise errors.ArtifactNotFoundError(f"artifact {url} not found (HTTP 404)")
            if response.status in _RETRIABLE_STATUS:
                raise _RetriableError(f"HTTP {response.status} {response.reason}")
            if response.status != 200:
                raise errors.FetchError(
                    f"downloading {url}: unexpected HTTP {response.status} {response.reason}"
                )
            if max_size is not None and (response.content_length or 0) > max_size:
                raise errors.ArchiveLimitError(
                    f"artifact {url} is {response.content_length} bytes, over the "
                    f"{max_size}-byte limit"
                )
            with await asyncio.to_thread(open, target, "wb") as output:
                pending = bytearray()
                async for chunk in response.content.iter_chunked(64 * 1024):
                    size += len(chunk)
                    if max_size is not None and size > max_size:
                        raise errors.ArchiveLimitError(
                            f"artifact {url} exceeds the {max_size}-byte limit"
                        )
                    hasher.update(chunk)
                    pending += chunk
                    if len(pending) >= _WRITE_BATCH:
                        await asyncio.to_thread(output.write, bytes(pending))
                        pending.clear()
                await asyncio.to_thread(output.write, bytes(pending))
            if response.content_length is not None and size != response.content_length:
                raise _RetriableError(f"body ended after {size} of {response.content_length} bytes")
    except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
        raise _RetriableError(f"{type(exc).__name__}: {exc}") from exc
    except TimeoutError as exc:
        raise _RetriableError(
            f"no complete answer within {retry.timeout.total_seconds():g}s"
        ) from exc
    except aiohttp.ClientError as exc:
        raise errors.FetchError(f"downloading {url}: {exc}") from exc
    except OSError as exc:
        raise errors.FetchError(f"writing download of {url} to {target}: {exc}") from exc
    return Download(
        path=target, digest=digests.format_digest(algorithm, hasher.hexdigest()), size=size
    )


@contextlib.asynccontextmanager
async def fetched(
    session: aiohttp.ClientSession,
    url: str,
    *,
    digest: str,
    limits: extracting.Limits | None = None,
    retry: RetryPolicy | None = None,
    temp_root: str | os.PathLike[str] | None = None,
) -> AsyncIterator[pathlib.Path]:
    """Download, verify and extract the artifact; yield the extracted directory.

    The download is limited to what an archive within ``limits`` can weigh
    compressed (``Limits.max_download_size``), so an oversize one is refused
    while it streams, before it is extracted. Everything lives under one temporary
    directory (in ``temp_root`` when given) removed on exit.
    """
    limits = limits or extracting.Limits()
    workspace = pathlib.Path(
        await asyncio.to_thread(tempfile.mkdtemp, prefix="artifact-", dir=temp_root)
    )
    try:
        archive = workspace / "artifact.tar.gz"
        await download(
            session,
            url,
            archive,
            expected_digest=digest,
            max_size=limits.max_download_size,
            retry=retry,
        )
        tree = workspace / "tree"
        await asyncio.to_thread(extracting.extract, archive, tree, limits=limits)
        await asyncio.to_thread(archive.unlink)
        yield tree
    finally:
        # NB: shielded so a cancelled reconcile still removes its files.
        await asyncio.shield(asyncio.to_thread(shutil.rmtree, workspace, True))
