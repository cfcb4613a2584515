"""The artifact HTTP server: files only, no listings, no escapes, caching headers, HEAD."""

from __future__ import annotations

import asyncio
import collections.abc
import email.utils
import os
import pathlib

import aiohttp
import multidict
import pytest
import yarl

from shared.artifacts import serving

ARTIFACT = "gitrepository/default/app/abc.tar.gz"


@pytest.fixture
async def server(tmp_path: pathlib.Path) -> collections.abc.AsyncIterator[serving.RunningServer]:
    root = tmp_path / "storage"
    (root / "gitrepository/default/app").mkdir(parents=True)
    (root / ARTIFACT).write_bytes(b"\x1f\x8b artifact bytes")
    (root / "gitrepository/default/app/.lock").write_bytes(b"")
    (root / "gitrepository/default/app/latest.tar.gz").symlink_to("abc.tar.gz")
    (tmp_path / "secret").write_bytes(b"outside")
    (root / "gitrepository/default/app/escape").symlink_to(tmp_path / "secret")
    (root / "gitrepository/default/app/index.yaml").write_bytes(b"entries: {}\n")
    async with serving.running(root) as running:
        yield running


async def _get(
    server: serving.RunningServer,
    path: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
) -> tuple[int, multidict.CIMultiDict[str], bytes]:
    url = yarl.URL(server.base_url + path, encoded=True)  # keep dots and escapes as sent
    async with (
        aiohttp.ClientSession(auto_decompress=False) as session,
        session.request(method, url, headers=headers or {}) as response,
    ):
        return response.status, multidict.CIMultiDict(response.headers), await response.read()


async def test_get_serves_file_with_caching_headers(server: serving.RunningServer) -> None:
    status, headers, body = await _get(server, "/" + ARTIFACT)
    assert status == 200
    assert body == b"\x1f\x8b artifact bytes"
    assert headers["Content-Length"] == str(len(body))
    assert headers["Content-Type"] == "application/gzip"
    assert "Content-Encoding" not in headers
    assert headers["ETag"].startswith('"')
    assert email.utils.parsedate_to_datetime(headers["Last-Modified"]) is not None


async def test_head_gives_headers_without_body(server: serving.RunningServer) -> None:
    status, headers, body = await _get(server, "/" + ARTIFACT, method="HEAD")
    assert status == 200
    assert headers["Content-Length"] == "17"
    assert body == b""


async def test_conditional_requests_give_304(server: serving.RunningServer) -> None:
    _, headers, _ = await _get(server, "/" + ARTIFACT)
    status, _, body = await _get(server, "/" + ARTIFACT, headers={"If-None-Match": headers["ETag"]})
    assert (status, body) == (304, b"")
    status, _, _ = await _get(
        server, "/" + ARTIFACT, headers={"If-Modified-Since": headers["Last-Modified"]}
    )
    assert status == 304
    status, _, _ = await _get(server, "/" + ARTIFACT, headers={"If-None-Match": '"other"'})
    assert status == 200


async def test_gzip_accepting_client_gets_the_file_unchanged(
    server: serving.RunningServer, tmp_path: pathlib.Path
) -> None:
    # A sibling "<name>.gz" must never be substituted with Content-Encoding.
    (tmp_path / "storage/gitrepository/default/app/index.yaml.gz").write_bytes(b"zz")
    status, headers, body = await _get(
        server, "/gitrepository/default/app/index.yaml", headers={"Accept-Encoding": "gzip"}
    )
    assert (status, body) == (200, b"entries: {}\n")
    assert "Content-Encoding" not in headers


async def test_symlink_inside_root_is_followed(server: serving.RunningServer) -> None:
    status, _, body = await _get(server, "/gitrepository/default/app/latest.tar.gz")
    assert (status, body) == (200, b"\x1f\x8b artifact bytes")


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/gitrepository",
        "/gitrepository/default/app/",
        "/gitrepository/default/app/missing.tar.gz",
        "/gitrepository/default/app/.lock",
        "/gitrepository/default/app/escape",
        "/../secret",
        "/gitrepository/../../secret",
        "/%2e%2e/secret",
        "/gitrepository/default/app/..%2f..%2f..%2f..%2fsecret",
        "/gitrepository//default/app/abc.tar.gz",
        "/gitrepository/default/app/abc.tar.gz%00",
    ],
)
async def test_listings_hidden_files_and_escapes_are_not_found(
    server: serving.RunningServer, path: str
) -> None:
    status, _, body = await _get(server, path)
    assert status == 404, path
    assert b"outside" not in body


async def test_raw_request_line_traversal_is_refused(server: serving.RunningServer) -> None:
    # Sent byte for byte, bypassing any client-side URL normalisation.
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(b"GET /../../secret HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        await writer.drain()
        answer = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    assert b"outside" not in answer
    assert answer.split(b"\r\n", 1)[0].split(b" ")[1] in {b"404", b"400"}


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
async def test_writes_are_not_allowed(server: serving.RunningServer, method: str) -> None:
    status, _, _ = await _get(server, "/" + ARTIFACT, method=method)
    assert status == 405


async def test_large_file_streams_completely(tmp_path: pathlib.Path) -> None:
    content = os.urandom(3 * serving.CHUNK_SIZE + 11)
    (tmp_path / "big.bin").write_bytes(content)
    async with serving.running(tmp_path) as running:
        status, headers, body = await _get(running, "/big.bin")
    assert status == 200
    assert body == content
    assert headers["Content-Length"] == str(len(content))
