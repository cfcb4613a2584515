"""The artifact HTTP server: files only, no escapes, caching, ranges, bounded connections."""

from __future__ import annotations

import asyncio
import collections.abc
import contextlib
import email.parser
import email.utils
import logging as std_logging
import os
import pathlib
import socket

import aiohttp
import multidict
import pytest
import yarl

from shared.artifacts import serving
from tests.fixtures import polling

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


CONTENT = b"\x1f\x8b artifact bytes"  # the 17 bytes of ARTIFACT


@pytest.mark.parametrize(
    ("value", "content_range", "body"),
    [
        ("bytes=2-5", "bytes 2-5/17", CONTENT[2:6]),
        ("bytes=-4", "bytes 13-16/17", CONTENT[-4:]),
        ("bytes=10-", "bytes 10-16/17", CONTENT[10:]),
        ("bytes=10-1000", "bytes 10-16/17", CONTENT[10:]),
        ("bytes=-1000", "bytes 0-16/17", CONTENT),
        ("BYTES = 0-0", "bytes 0-0/17", CONTENT[:1]),
    ],
)
async def test_one_range_gives_206_with_content_range(
    server: serving.RunningServer, value: str, content_range: str, body: bytes
) -> None:
    status, headers, received = await _get(server, "/" + ARTIFACT, headers={"Range": value})
    assert (status, headers["Content-Range"], received) == (206, content_range, body)
    assert headers["Content-Length"] == str(len(body))
    assert headers["Accept-Ranges"] == "bytes"


@pytest.mark.parametrize("value", ["bytes=17-", "bytes=100-200", "bytes=-0", "bytes=17-,30-40"])
async def test_unsatisfiable_ranges_give_416(server: serving.RunningServer, value: str) -> None:
    status, headers, _ = await _get(server, "/" + ARTIFACT, headers={"Range": value})
    assert (status, headers["Content-Range"]) == (416, "bytes */17")


async def test_several_ranges_give_a_multipart_byteranges_body(
    server: serving.RunningServer,
) -> None:
    status, headers, body = await _get(
        server, "/" + ARTIFACT, headers={"Range": "bytes=0-1,4-5,30-40,-2"}
    )
    assert status == 206
    assert "Content-Range" not in headers
    assert headers["Content-Length"] == str(len(body))
    kind, _, boundary = headers["Content-Type"].partition("; boundary=")
    assert kind == "multipart/byteranges"
    parsed = email.parser.BytesParser().parsebytes(
        b"Content-Type: " + headers["Content-Type"].encode() + b"\r\n\r\n" + body
    )
    assert parsed.is_multipart()
    parts = [(part["Content-Range"], part.get_payload(decode=True)) for part in parsed.walk()][1:]
    # 30-40 starts past the end of the 17 bytes and is dropped, as Go drops it.
    assert parts == [
        ("bytes 0-1/17", CONTENT[0:2]),
        ("bytes 4-5/17", CONTENT[4:6]),
        ("bytes 15-16/17", CONTENT[15:]),
    ]
    assert body.endswith(f"\r\n--{boundary}--\r\n".encode())


async def test_ranges_asking_for_more_than_the_file_give_the_whole_file(
    server: serving.RunningServer,
) -> None:
    status, headers, body = await _get(server, "/" + ARTIFACT, headers={"Range": "bytes=0-,0-"})
    assert (status, body) == (200, CONTENT)
    assert "Content-Range" not in headers


@pytest.mark.parametrize("value", ["items=0-1", "bytes=5-2", "bytes=x-1", "bytes=-", "bytes"])
async def test_other_units_and_malformed_ranges_give_the_whole_file(
    server: serving.RunningServer, value: str
) -> None:
    status, headers, body = await _get(server, "/" + ARTIFACT, headers={"Range": value})
    assert (status, body) == (200, CONTENT)
    assert "Content-Range" not in headers
    assert headers["Accept-Ranges"] == "bytes"


async def test_head_with_range_gives_206_headers_without_body(
    server: serving.RunningServer,
) -> None:
    status, headers, body = await _get(
        server, "/" + ARTIFACT, method="HEAD", headers={"Range": "bytes=1-2"}
    )
    assert (status, headers["Content-Range"], headers["Content-Length"], body) == (
        206,
        "bytes 1-2/17",
        "2",
        b"",
    )


async def test_if_range_applies_the_range_only_while_the_validator_matches(
    server: serving.RunningServer,
) -> None:
    _, headers, _ = await _get(server, "/" + ARTIFACT)
    for validator in (headers["ETag"], headers["Last-Modified"]):
        status, _, body = await _get(
            server, "/" + ARTIFACT, headers={"Range": "bytes=0-1", "If-Range": validator}
        )
        assert (status, body) == (206, CONTENT[:2]), validator
    stale = ['"0-11"', "W/" + headers["ETag"], "Thu, 01 Jan 1970 00:00:00 GMT", "garbage"]
    for validator in stale:
        status, _, body = await _get(
            server, "/" + ARTIFACT, headers={"Range": "bytes=0-1", "If-Range": validator}
        )
        assert (status, body) == (200, CONTENT), validator


async def test_range_across_chunks_streams_exactly_those_bytes(tmp_path: pathlib.Path) -> None:
    content = os.urandom(3 * serving.CHUNK_SIZE + 11)
    (tmp_path / "big.bin").write_bytes(content)
    first, last = serving.CHUNK_SIZE - 5, 2 * serving.CHUNK_SIZE + 5
    async with serving.running(tmp_path) as running:
        range_header = {"Range": f"bytes={first}-{last}"}
        status, _, body = await _get(running, "/big.bin", headers=range_header)
    assert (status, body) == (206, content[first : last + 1])


# Connections: raw sockets, small limits, waits bounded by deadlines.

GET_REQUEST = f"GET /{ARTIFACT} HTTP/1.1\r\nHost: x\r\n\r\n".encode()


@contextlib.asynccontextmanager
async def _limited(
    tmp_path: pathlib.Path, limits: serving.Limits
) -> collections.abc.AsyncIterator[serving.RunningServer]:
    root = tmp_path / "storage"
    (root / ARTIFACT).parent.mkdir(parents=True)
    (root / ARTIFACT).write_bytes(CONTENT)
    async with serving.running(root, limits=limits) as running:
        yield running


async def _closed_by_server(reader: asyncio.StreamReader, *, within: float) -> bytes:
    """Everything the server sends until it closes the connection (fails after ``within``)."""
    try:
        return await asyncio.wait_for(reader.read(), within)
    except ConnectionResetError:
        return b""


async def test_idle_keep_alive_connection_is_closed_after_the_idle_timeout(
    tmp_path: pathlib.Path,
) -> None:
    async with _limited(tmp_path, serving.Limits(idle_timeout=0.3, header_timeout=30)) as running:
        reader, writer = await asyncio.open_connection(running.host, running.port)
        writer.write(GET_REQUEST)
        answer = await _closed_by_server(reader, within=10)
        writer.close()
    assert answer.startswith(b"HTTP/1.1 200")
    assert answer.endswith(CONTENT)


async def test_slowloris_that_never_finishes_its_headers_is_disconnected(
    tmp_path: pathlib.Path,
) -> None:
    async with _limited(tmp_path, serving.Limits(header_timeout=0.5, idle_timeout=60)) as running:
        reader, writer = await asyncio.open_connection(running.host, running.port)
        writer.write(b"GET /" + ARTIFACT.encode() + b" HTTP/1.1\r\n")
        deadline = asyncio.get_running_loop().time() + 10
        closed = False
        # Trickle one header line at a time, as a slowloris client does, until cut off.
        while not closed and asyncio.get_running_loop().time() < deadline:
            try:
                writer.write(b"X-Slow: 1\r\n")
                await writer.drain()
                closed = await asyncio.wait_for(reader.read(1), 0.1) == b""
            except TimeoutError:
                continue
            except ConnectionError:
                closed = True
        writer.close()
    assert closed, "the server kept a connection whose headers never ended"


async def test_connections_beyond_the_limit_are_refused_until_one_closes(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(std_logging.DEBUG, logger=serving.__name__)
    async with _limited(tmp_path, serving.Limits(max_connections=3, header_timeout=60)) as running:
        held = [await asyncio.open_connection(running.host, running.port) for _ in range(3)]
        reader, writer = await asyncio.open_connection(running.host, running.port)
        refused = await _closed_by_server(reader, within=10)
        writer.close()
        assert refused.startswith(b"HTTP/1.1 503"), refused
        status, _, _ = await _get(running, "/" + ARTIFACT)
        assert status == 503

        held.pop()[1].close()

        async def served() -> bool:
            status, _, body = await _get(running, "/" + ARTIFACT)
            return (status, body) == (200, CONTENT)

        await polling.eventually(served, within=10, message="no request served below the limit")
        refusals = [r for r in caplog.records if "connection limit" in r.getMessage()]
        assert [r.levelno for r in refusals] == [std_logging.INFO]  # once, for operators
        for _, held_writer in held:
            held_writer.close()


async def test_a_client_that_stops_reading_is_aborted_after_the_send_timeout(
    tmp_path: pathlib.Path,
) -> None:
    # One connection allowed: the next request succeeds only once the stalled one is gone.
    async with _limited(tmp_path, serving.Limits(max_connections=1, send_timeout=0.3)) as running:
        (tmp_path / "storage/big.bin").write_bytes(os.urandom(32 * 1024 * 1024))
        stalled = socket.create_connection((running.host, running.port))
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        try:

            async def served() -> bool:
                status, _, _ = await _get(running, "/" + ARTIFACT)
                return status == 200

            await polling.eventually(served, within=15, message="the stalled download was kept")
        finally:
            stalled.close()


async def test_client_disconnect_and_oversize_header_log_nothing_above_debug(
    server: serving.RunningServer, tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(std_logging.DEBUG)
    (tmp_path / "storage/big.bin").write_bytes(os.urandom(32 * 1024 * 1024))
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    await reader.readexactly(1024)
    writer.transport.abort()  # gone mid-download

    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n")
    answer = await _closed_by_server(reader, within=10)
    writer.close()
    assert answer.split(b" ", 2)[1] == b"400", answer[:100]

    def both_logged() -> bool:
        messages = {record.getMessage() for record in caplog.records}
        return "download ended early" in messages and any(
            "Error handling request" in m for m in messages
        )

    await polling.eventually(both_logged, within=10, message=caplog.text)
    loud = [r for r in caplog.records if r.levelno > std_logging.DEBUG]
    assert loud == [], [r.getMessage() for r in loud]
