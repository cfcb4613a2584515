"""The artifact client against real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import collections.abc
import contextlib
import dataclasses
import datetime
import hashlib
import pathlib
import socket

import aiohttp
import pytest
from aiohttp import test_utils, web

from shared.artifacts import errors, extracting, fetching, serving, storage
from tests.artifacts import tarballs
from tests.artifacts.tarballs import Member

FAST = fetching.RetryPolicy(
    retries=2,
    timeout=datetime.timedelta(seconds=5),
    backoff_initial=datetime.timedelta(milliseconds=1),
    backoff_max=datetime.timedelta(milliseconds=5),
)
KEY = storage.ObjectKey(kind="GitRepository", namespace="default", name="app")


@contextlib.asynccontextmanager
async def _app_server(app: web.Application) -> collections.abc.AsyncIterator[str]:
    async with test_utils.TestServer(app, host="127.0.0.1") as server:
        yield f"http://127.0.0.1:{server.port}"


@dataclasses.dataclass
class _Served:
    """A fixed answer at ``url``, and how many times it was asked for."""

    url: str = ""
    calls: int = 0


@contextlib.asynccontextmanager
async def _serving(
    route: str, answer: bytes | type[web.HTTPException]
) -> collections.abc.AsyncIterator[_Served]:
    """``answer`` (a body, or an HTTP error raised) at ``route`` for the block's duration."""
    served = _Served()

    async def handler(request: web.Request) -> web.Response:
        served.calls += 1
        if isinstance(answer, bytes):
            return web.Response(body=answer)
        raise answer()

    app = web.Application()
    app.router.add_get(route, handler)
    async with _app_server(app) as base:
        served.url = f"{base}{route}"
        yield served


def _entries(directory: pathlib.Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
async def session() -> collections.abc.AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def test_fetch_from_storage_server_gives_the_archived_tree(
    tmp_path: pathlib.Path, session: aiohttp.ClientSession
) -> None:
    source = tmp_path / "src"
    (source / "apps").mkdir(parents=True)
    (source / "apps/deploy.yaml").write_text("kind: Deployment\n")
    (source / "kustomization.yaml").write_text("resources: [apps]\n")
    store = storage.Storage(tmp_path / "store", advertised_address="unused")
    artifact = await store.archive(KEY, source=source, revision="main@sha1:" + "a" * 40)
    temp_root = tmp_path / "tmp"
    temp_root.mkdir()
    async with serving.running(tmp_path / "store") as server:
        url = f"{server.base_url}/{artifact.path}"
        async with fetching.fetched(
            session, url, digest=artifact.digest, retry=FAST, temp_root=temp_root
        ) as tree:
            assert (tree / "apps/deploy.yaml").read_text() == "kind: Deployment\n"
            assert (tree / "kustomization.yaml").read_text() == "resources: [apps]\n"
            assert not (tree.parent / "artifact.tar.gz").exists()
    assert _entries(temp_root) == []


async def test_temporary_directory_is_removed_when_the_block_fails(
    tmp_path: pathlib.Path, session: aiohttp.ClientSession
) -> None:
    data = tarballs.build(Member("a.yaml", content=b"a"))
    async with _serving("/a.tar.gz", data) as served:
        with pytest.raises(RuntimeError, match="consumer failed"):
            async with fetching.fetched(
                session, served.url, digest=_digest(data), retry=FAST, temp_root=tmp_path
            ):
                raise RuntimeError("consumer failed")
    assert _entries(tmp_path) == []


async def test_digest_mismatch_is_refused_and_cleaned_up(
    tmp_path: pathlib.Path, session: aiohttp.ClientSession
) -> None:
    data = tarballs.build(Member("a.yaml", content=b"a"))
    wrong = _digest(b"something else")
    async with _serving("/a.tar.gz", data) as served:
        with pytest.raises(errors.DigestMismatchError, match=f"expected {wrong}"):
            async with fetching.fetched(
                session, served.url, digest=wrong, retry=FAST, temp_root=tmp_path
            ):
                pytest.fail("a mismatching artifact must not be extracted")
    assert served.calls == 1  # not retried
    assert _entries(tmp_path) == []


async def test_hostile_archive_is_refused_and_cleaned_up(
    tmp_path: pathlib.Path, session: aiohttp.ClientSession
) -> None:
    data = tarballs.build(Member("../../escape", content=b"x"))
    async with _serving("/evil.tar.gz", data) as served:
        with pytest.raises(errors.UnsafeArchiveError, match=r"path contains '\.\.'"):
            async with fetching.fetched(
                session, served.url, digest=_digest(data), retry=FAST, temp_root=tmp_path
            ):
                pytest.fail("unreachable")
    assert _entries(tmp_path) == []


async def test_not_found_fails_at_once(
    tmp_path: pathlib.Path, session: aiohttp.ClientSession
) -> None:
    async with _serving("/gone.tar.gz", web.HTTPNotFound) as served:
        with pytest.raises(errors.ArtifactNotFoundError, match="HTTP 404"):
            await fetching.download(session, served.url, tmp_path / "f", retry=FAST)
    assert served.calls == 1


async def test_other_client_errors_are_not_retried(
    tmp_path: pathlib.Path, session: aiohttp.ClientSession
) -> None:
    async with _serving("/f", web.HTTPForbidden) as served:
        with pytest.raises(errors.FetchError, match="unexpected HTTP 403"):
            await fetching.download(session, served.url, tmp_path / "f", retry=FAST)


async def test_server_errors_are_retried_until_success(
    tmp_path: pathlib.Path, session: aiohttp.ClientSession
) -> None:
    calls = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise web.HTTPServiceUnavailable()
        return web.Response(body=b"payload")

    app = web.Application()
    app.router.add_get("/f", handler)
    async with _app_server(app) as base:
        result = await fetching.download(
            session, f"{base}/f", tmp_path / "f", expected_digest=_digest(b"payload"), retry=FAST
        )
    assert calls == 3
    assert result.size == 7
    assert (tmp_path / "f").read_bytes() == b"payload"


async def test_retries_exhausted_gives_readable_error(
    tmp_path: pathlib.Path, session: aiohttp.ClientSession
) -> None:
    async with _serving("/f", web.HTTPBadGateway) as served:
        with pytest.raises(errors.FetchError, match=r"failed after 3 attempts: HTTP 502"):
            await fetching.download(session, served.url, tmp_path / "f", retry=FAST)
    assert served.calls == 3


async def test_unreachable_host_gives_readable_error(
    tmp_path: pathlib.Path, session: aiohttp.ClientSession
) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens on this port now
    with pytest.raises(errors.FetchError, match=rf"127\.0\.0\.1:{port}.*failed after 3 attempts"):
        await fetching.download(session, f"http://127.0.0.1:{port}/f", tmp_path / "f", retry=FAST)


async def test_hanging_server_times_out(
    tmp_path: pathlib.Path, session: aiohttp.ClientSession
) -> None:
    never = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        await never.wait()
        return web.Response()

    app = web.Application()
    app.router.add_get("/f", handler)
    policy = fetching.RetryPolicy(
        retries=1,
        timeout=datetime.timedelta(milliseconds=200),
        backoff_initial=datetime.timedelta(milliseconds=1),
    )
    async with _app_server(app) as base:
        with pytest.raises(errors.FetchError, match=r"no complete answer within 0\.2s"):
            await fetching.download(session, f"{base}/f", tmp_path / "f", retry=policy)
        never.set()


async def test_oversize_download_is_stopped(
    tmp_path: pathlib.Path, session: aiohttp.ClientSession
) -> None:
    async def declared(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * 5000)

    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(10):
            await response.write(b"y" * 1000)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/declared", declared)
    app.router.add_get("/chunked", chunked)
    async with _app_server(app) as base:
        with pytest.raises(errors.ArchiveLimitError, match="is 5000 bytes, over the 1000-byte"):
            await fetching.download(
                session, f"{base}/declared", tmp_path / "a", max_size=1000, retry=FAST
            )
        with pytest.raises(errors.ArchiveLimitError, match="exceeds the 1000-byte limit"):
            await fetching.download(
                session, f"{base}/chunked", tmp_path / "b", max_size=1000, retry=FAST
            )


async def test_fetched_applies_extraction_limits(
    tmp_path: pathlib.Path, session: aiohttp.ClientSession
) -> None:
    data = tarballs.build(*(Member(f"f{i}", content=b"z") for i in range(20)))
    async with _serving("/many.tar.gz", data) as served:
        with pytest.raises(errors.ArchiveLimitError, match="more than 10 entries"):
            async with fetching.fetched(
                session,
                served.url,
                digest=_digest(data),
                limits=extracting.Limits(max_files=10),
                retry=FAST,
                temp_root=tmp_path,
            ):
                pytest.fail("unreachable")
    assert _entries(tmp_path) == []


async def test_invalid_expected_digest_is_refused_before_downloading(
    tmp_path: pathlib.Path, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(errors.InvalidDigestError):
        await fetching.download(
            session, "http://127.0.0.1:1/f", tmp_path / "f", expected_digest="md5:00", retry=FAST
        )


async def test_artifact_url_from_storage_is_served(
    tmp_path: pathlib.Path, session: aiohttp.ClientSession
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.yaml").write_text("a: 1\n")
    async with serving.running(tmp_path / "store") as server:
        store = storage.Storage(
            tmp_path / "store", advertised_address=f"{server.host}:{server.port}"
        )
        artifact = await store.archive(KEY, source=source, revision="r")
        async with fetching.fetched(
            session, artifact.url, digest=artifact.digest, retry=FAST, temp_root=tmp_path
        ) as tree:
            assert (tree / "a.yaml").read_text() == "a: 1\n"


async def test_cancelled_fetch_removes_its_files(
    tmp_path: pathlib.Path, session: aiohttp.ClientSession
) -> None:
    started = asyncio.Event()
    never = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_length = 1_000_000
        await response.prepare(request)
        await response.write(b"x" * 1000)
        started.set()
        await never.wait()
        return response

    app = web.Application()
    app.router.add_get("/slow", handler)
    temp_root = tmp_path / "tmp"
    temp_root.mkdir()

    async def consume() -> None:
        async with fetching.fetched(
            session, f"{base}/slow", digest=_digest(b""), retry=FAST, temp_root=temp_root
        ):
            pytest.fail("unreachable")

    async with _app_server(app) as base:
        task = asyncio.create_task(consume())
        await started.wait()
        assert len(_entries(temp_root)) == 1  # the download is under way
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        never.set()
    assert _entries(temp_root) == []
