"""The read-only artifact HTTP server (source-controller's ``--storage-addr``).

Contract: ``GET`` and ``HEAD`` of ``/<artifact path>`` answer with the file
under the storage root, with ``Content-Length``, ``Content-Type``, a strong
``ETag`` (modification time and size), ``Last-Modified`` and ``Accept-Ranges:
bytes``; ``If-None-Match`` and ``If-Modified-Since`` give 304; a ``Range``
gives 206 with ``Content-Range`` (several ranges: a ``multipart/byteranges``
body) or 416 with ``Content-Range: bytes */size`` (see ``byteranges``), and
``If-Range`` with a validator that no longer matches gives the whole file.
Everything else is refused:

- directories (no listings) and the root give 404;
- a path with an empty, ``.`` or ``..`` component, a backslash or NUL, or a
  component starting with a dot (lock and temporary files) gives 404;
- a symlink whose target resolves outside the root gives 404 (symlinks inside
  it, such as ``latest.tar.gz``, are followed);
- other methods give 405.

Connections are bounded (``Limits``): a client must send a request's headers
within ``header_timeout`` of connecting or of its first byte (slow clients
cannot hold a connection by trickling headers), an idle keep-alive connection
is closed after ``idle_timeout``, a download whose client accepts no data for
``send_timeout`` is aborted, and beyond ``max_connections`` open connections
a new one is answered 503 and closed.

Logging: through the standard ``logging`` module (which the controller's
logging configuration renders as structured lines). What clients cause -- a
disconnect, a stalled download, a malformed or oversize request, a refused
connection -- is logged at debug level only; aiohttp's own errors about
them are lowered to debug too.

NB: aiohttp's ``FileResponse`` is not used: it also serves a ``<path>.gz``
sibling with ``Content-Encoding: gzip`` when the client accepts gzip, which
would make clients transparently decompress and then fail digest checks.
Disk reads run in threads, one chunk at a time, so memory stays bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import email.utils
import functools
import logging
import mimetypes
import os
import pathlib
import secrets
import socket
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import IO, Any, Final

from aiohttp import http_exceptions, web, web_protocol

from shared.artifacts import byteranges

CHUNK_SIZE: Final = 256 * 1024
_BUSY: Final = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_REFUSALS_REPORT_INTERVAL: Final = 60.0
_log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Limits:
    """How long clients may take and how many may be connected at once (seconds)."""

    header_timeout: float = 10.0
    idle_timeout: float = 60.0
    send_timeout: float = 60.0
    max_connections: int = 1024


@dataclasses.dataclass(frozen=True)
class RunningServer:
    """Where a started server listens."""

    host: str
    port: int

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


@contextlib.asynccontextmanager
async def running(
    root: str | os.PathLike[str],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    limits: Limits = Limits(),
) -> AsyncIterator[RunningServer]:
    """Serve ``root`` on ``host:port`` (0 picks a free port) for the block's duration."""
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError:
        listener.close()
        raise
    real_root = pathlib.Path(await asyncio.to_thread(os.path.realpath, root))
    server = _Server(
        functools.partial(_serve, root=real_root, send_timeout=limits.send_timeout),
        limits=limits,
        keepalive_timeout=limits.idle_timeout,
        access_log=None,
    )
    runner = web.ServerRunner(server)
    await runner.setup()
    try:
        site = web.SockSite(runner, listener)
        await site.start()
        yield RunningServer(host=host, port=listener.getsockname()[1])
    finally:
        await runner.cleanup()
        listener.close()


class _Server(web.Server):
    """aiohttp's low-level server, making ``_Connection`` protocols."""

    def __init__(
        self,
        handler: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]],
        *,
        limits: Limits,
        **kwargs: Any,
    ) -> None:
        super().__init__(_tracking(handler), **kwargs)
        self.limits = limits
        self.kwargs = kwargs
        self._refusals_reported_at: float | None = None

    def __call__(self) -> web_protocol.RequestHandler:
        return _Connection(self, loop=asyncio.get_running_loop(), **self.kwargs)

    def report_refusal(self) -> None:
        """Log a refused connection: at info at most once a minute (operators), else debug."""
        now = asyncio.get_running_loop().time()
        limit = {"limit": self.limits.max_connections}
        last = self._refusals_reported_at
        if last is None or now - last >= _REFUSALS_REPORT_INTERVAL:
            self._refusals_reported_at = now
            _log.info("artifact server at its connection limit: refusing connections", extra=limit)
        else:
            _log.debug("refused a connection over the limit", extra=limit)


class _Connection(web_protocol.RequestHandler):
    """One client connection: aiohttp's protocol plus the header deadline and the limit.

    The header deadline runs from the connection's start, and again from the
    first byte received while no request is being handled, until a request's
    headers are complete (``_tracking`` reports that); idle keep-alive time is
    aiohttp's ``keepalive_timeout``.
    """

    def __init__(self, server: _Server, **kwargs: Any) -> None:
        super().__init__(server, **kwargs)
        self._server = server
        self._deadline: asyncio.TimerHandle | None = None
        self._busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if len(self._server.connections) > self._server.limits.max_connections:
            self._server.report_refusal()
            assert isinstance(transport, asyncio.Transport)
            transport.write(_BUSY)
            self.force_close()
            return
        self._arm_deadline()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if data and not self._busy and self._deadline is None:
            self._arm_deadline()
        super().data_received(data)

    def request_started(self) -> None:
        self._busy = True
        self._disarm_deadline()

    def request_finished(self) -> None:
        self._busy = False

    def log_exception(self, *args: Any, **kwargs: Any) -> None:
        # What a client causes (a disconnect, a malformed or oversize request)
        # is not the server's error.
        if isinstance(kwargs.get("exc_info"), _CLIENT_FAULTS):
            self.logger.debug(*args, **kwargs)
        else:
            super().log_exception(*args, **kwargs)

    def _arm_deadline(self) -> None:
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(self._server.limits.header_timeout, self._headers_late)

    def _disarm_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _headers_late(self) -> None:
        self._deadline = None
        if not self._busy:
            _log.debug(
                "closed a connection whose request headers were late",
                extra={"timeout": self._server.limits.header_timeout},
            )
            self.force_close()


_CLIENT_FAULTS: Final = (ConnectionError, http_exceptions.HttpProcessingError)


def _tracking(
    handler: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]],
) -> Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]:
    """``handler``, telling its ``_Connection`` when a request starts and ends."""

    async def tracked(request: web.BaseRequest) -> web.StreamResponse:
        connection = request.protocol
        assert isinstance(connection, _Connection)  # _Server makes only those
        connection.request_started()
        try:
            return await handler(request)
        finally:
            connection.request_finished()

    return tracked


async def _serve(
    request: web.BaseRequest, *, root: pathlib.Path, send_timeout: float
) -> web.StreamResponse:
    if request.method not in ("GET", "HEAD"):
        raise web.HTTPMethodNotAllowed(request.method, ["GET", "HEAD"])
    path = _resolve(root, request.path.removeprefix("/"))
    if path is None:
        raise web.HTTPNotFound()
    opened = await asyncio.to_thread(_open_regular, path)
    if opened is None:
        raise web.HTTPNotFound()
    stream, info = opened
    try:
        etag = f'"{info.st_mtime_ns:x}-{info.st_size:x}"'
        last_modified = email.utils.formatdate(info.st_mtime, usegmt=True)
        headers = {
            "ETag": etag,
            "Last-Modified": last_modified,
            "Content-Type": _content_type(path.name),
            "Accept-Ranges": "bytes",
        }
        if _not_modified(request, etag=etag, modified=info.st_mtime):
            return web.Response(status=304, headers=headers)
        try:
            chosen = _requested_range(request, etag=etag, modified=info.st_mtime, size=info.st_size)
        except byteranges.RangeNotSatisfiableError:
            return web.Response(
                status=416,
                headers={
                    "Accept-Ranges": "bytes",
                    "Content-Range": byteranges.unsatisfied_range(info.st_size),
                },
            )
        pieces: list[bytes | byteranges.ByteRange]
        if chosen is None:
            response = web.StreamResponse(status=200, headers=headers)
            pieces = [byteranges.ByteRange(0, info.st_size)]
        elif len(chosen) == 1:
            response = web.StreamResponse(status=206, headers=headers)
            response.headers["Content-Range"] = chosen[0].content_range(info.st_size)
            pieces = [chosen[0]]
        else:
            body = byteranges.multipart(
                chosen,
                size=info.st_size,
                content_type=headers["Content-Type"],
                boundary=secrets.token_hex(16),
            )
            response = web.StreamResponse(
                status=206, headers={**headers, "Content-Type": body.content_type}
            )
            pieces = [piece for part in body.parts for piece in (part.header, part.range)]
            pieces.append(body.trailer)
        response.content_length = sum(
            len(piece) if isinstance(piece, bytes) else piece.length for piece in pieces
        )
        await _send(request, response, stream, pieces, send_timeout=send_timeout)
        return response
    finally:
        stream.close()


async def _send(
    request: web.BaseRequest,
    response: web.StreamResponse,
    stream: IO[bytes],
    pieces: list[bytes | byteranges.ByteRange],
    *,
    send_timeout: float,
) -> None:
    """Write ``pieces`` (literal bytes, or ranges of ``stream``); abort when the client stalls.

    A client that disconnects or accepts no data for ``send_timeout`` seconds ends
    the download (logged at debug level); the response then goes no further.
    """
    try:
        async with asyncio.timeout(send_timeout):
            await response.prepare(request)
        if request.method != "HEAD":
            for piece in pieces:
                if isinstance(piece, bytes):
                    async with asyncio.timeout(send_timeout):
                        await response.write(piece)
                else:
                    await _send_range(response, stream, piece, send_timeout=send_timeout)
        async with asyncio.timeout(send_timeout):
            await response.write_eof()
    except TimeoutError:
        _log.debug(
            "aborted a stalled download", extra={"path": request.path, "timeout": send_timeout}
        )
        _abort(request)
    except ConnectionError as error:
        _log.debug("download ended early", extra={"path": request.path, "error": str(error)})
        _abort(request)


async def _send_range(
    response: web.StreamResponse,
    stream: IO[bytes],
    chosen: byteranges.ByteRange,
    *,
    send_timeout: float,
) -> None:
    """Write bytes ``chosen`` of ``stream`` in chunks read off the event loop."""
    stream.seek(chosen.start)
    remaining = chosen.length
    while remaining > 0:
        chunk = await asyncio.to_thread(stream.read, min(CHUNK_SIZE, remaining))
        if not chunk:
            raise ConnectionAbortedError("the file shrank while it was sent")
        remaining -= len(chunk)
        async with asyncio.timeout(send_timeout):
            await response.write(chunk)


def _abort(request: web.BaseRequest) -> None:
    # NB: abort, not close: close would wait for the unsent buffer to drain.
    if request.transport is not None:
        request.transport.abort()


def _requested_range(
    request: web.BaseRequest, *, etag: str, modified: float, size: int
) -> list[byteranges.ByteRange] | None:
    """The ranges to send, ``None`` for the whole file; raises ``RangeNotSatisfiableError``."""
    value = request.headers.get("Range")
    if value is None:
        return None
    if_range = request.headers.get("If-Range")
    if if_range is not None and not _validator_matches(if_range, etag=etag, modified=modified):
        return None
    return byteranges.select(value, size)


def _validator_matches(value: str, *, etag: str, modified: float) -> bool:
    """``If-Range``: a strong entity-tag match, or exactly the modification date."""
    value = value.strip()
    if value.startswith(('"', "W/")):
        return value == etag
    try:
        date = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return False
    return int(date.timestamp()) == int(modified)


def _resolve(root: pathlib.Path, raw: str) -> pathlib.Path | None:
    if not raw:
        return None
    parts = raw.split("/")
    for part in parts:
        if not part or part.startswith(".") or "\\" in part or "\0" in part:
            return None
    real = pathlib.Path(os.path.realpath(root.joinpath(*parts)))
    if not real.is_relative_to(root) or real == root:
        return None
    return real


def _open_regular(path: pathlib.Path) -> tuple[IO[bytes], os.stat_result] | None:
    try:
        stream = open(path, "rb")  # noqa: SIM115 (closed by the caller)
    except OSError:
        return None
    info = os.fstat(stream.fileno())
    if not stat.S_ISREG(info.st_mode):
        stream.close()
        return None
    return stream, info


def _not_modified(request: web.BaseRequest, *, etag: str, modified: float) -> bool:
    if_none_match = request.if_none_match
    if if_none_match is not None:
        return any(f'"{tag.value}"' == etag or tag.value == "*" for tag in if_none_match)
    since = request.if_modified_since
    return since is not None and int(modified) <= since.timestamp()


def _content_type(name: str) -> str:
    if name.endswith((".tar.gz", ".tgz")):
        return "application/gzip"
    guessed, encoding = mimetypes.guess_type(name, strict=False)
    if guessed is None or encoding is not None:
        return "application/octet-stream"
    return guessed
