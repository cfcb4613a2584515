"""The read-only artifact HTTP server (source-controller's ``--storage-addr``).

Contract: ``GET`` and ``HEAD`` of ``/<artifact path>`` answer with the file
under the storage root, with ``Content-Length``, ``Content-Type``, a strong
``ETag`` (modification time and size) and ``Last-Modified``; ``If-None-Match``
and ``If-Modified-Since`` give 304. Everything else is refused:

- directories (no listings) and the root give 404;
- a path with an empty, ``.`` or ``..`` component, a backslash or NUL, or a
  component starting with a dot (lock and temporary files) gives 404;
- a symlink whose target resolves outside the root gives 404 (symlinks inside
  it, such as ``latest.tar.gz``, are followed);
- other methods give 405.

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
import mimetypes
import os
import pathlib
import socket
import stat
from collections.abc import AsyncIterator
from typing import IO, Final

from aiohttp import web

CHUNK_SIZE: Final = 256 * 1024
_ROOT_KEY: Final = web.AppKey("artifact_root", pathlib.Path)


def make_app(root: str | os.PathLike[str]) -> web.Application:
    """An aiohttp application serving the files under ``root`` read-only."""
    app = web.Application()
    app[_ROOT_KEY] = pathlib.Path(os.path.realpath(root))
    app.router.add_get("/{path:.*}", _serve)  # also routes HEAD
    return app


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
    root: str | os.PathLike[str], *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[RunningServer]:
    """Serve ``root`` on ``host:port`` (0 picks a free port) for the block's duration."""
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError:
        listener.close()
        raise
    runner = web.AppRunner(make_app(root), access_log=None)
    await runner.setup()
    try:
        site = web.SockSite(runner, listener)
        await site.start()
        yield RunningServer(host=host, port=listener.getsockname()[1])
    finally:
        await runner.cleanup()
        listener.close()


async def _serve(request: web.Request) -> web.StreamResponse:
    root = request.app[_ROOT_KEY]
    path = _resolve(root, request.match_info["path"])
    if path is None:
        raise web.HTTPNotFound()
    opened = await asyncio.to_thread(_open_regular, path)
    if opened is None:
        raise web.HTTPNotFound()
    stream, info = opened
    try:
        etag = f"{info.st_mtime_ns:x}-{info.st_size:x}"
        last_modified = email.utils.formatdate(info.st_mtime, usegmt=True)
        headers = {
            "ETag": f'"{etag}"',
            "Last-Modified": last_modified,
            "Content-Type": _content_type(path.name),
        }
        if _not_modified(request, etag=etag, modified=info.st_mtime):
            return web.Response(status=304, headers=headers)
        response = web.StreamResponse(headers=headers)
        response.content_length = info.st_size
        await response.prepare(request)
        if request.method != "HEAD":
            while chunk := await asyncio.to_thread(stream.read, CHUNK_SIZE):
                await response.write(chunk)
        await response.write_eof()
        return response
    finally:
        stream.close()


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


def _not_modified(request: web.Request, *, etag: str, modified: float) -> bool:
    if_none_match = request.if_none_match
    if if_none_match is not None:
        return any(tag.value in {etag, "*"} for tag in if_none_match)
    since = request.if_modified_since
    return since is not None and int(modified) <= since.timestamp()


def _content_type(name: str) -> str:
    if name.endswith((".tar.gz", ".tgz")):
        return "application/gzip"
    guessed, encoding = mimetypes.guess_type(name, strict=False)
    if guessed is None or encoding is not None:
        return "application/octet-stream"
    return guessed
