"""A small Git smart-HTTP server for local development (``python -m headwater.gitserver``).

Serves every bare repository under ``--root`` at ``http://HOST:PORT/<name>.git``
through Debian git's ``git http-backend`` (CGI), with push enabled and no
authentication — it binds to 127.0.0.1 by default and is meant for
``headwater dev`` and ``make demo``, never for shared use.

Contracts:
- a push to a repository that does not exist yet creates it (``git init
  --bare``), so ``git push http://127.0.0.1:PORT/app.git main`` just works;
  only names of the form ``[A-Za-z0-9._-]+.git`` (optionally under one
  directory level) are accepted, so nothing is created outside ``--root``;
- ``GET /healthz`` answers 200 once the server accepts requests;
- exits 0 on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import re
import shutil
import signal
import sys
from collections.abc import Sequence

from aiohttp import web

from headwater import gitcgi

# A repository path relative to the root: "app.git" or "team/app.git".
_REPO_PATH = re.compile(r"^(?:[A-Za-z0-9._-]+/)?[A-Za-z0-9._-]+\.git$")
# The part of a request path that names the repository.
_REPO_IN_URL = re.compile(r"^/(?P<repo>(?:[A-Za-z0-9._-]+/)?[A-Za-z0-9._-]+\.git)(?P<rest>/.*)?$")
_RECEIVE_PACK = {
    "GIT_CONFIG_COUNT": "1",
    "GIT_CONFIG_KEY_0": "http.receivepack",
    "GIT_CONFIG_VALUE_0": "true",
}


class GitBackend:
    """Runs ``git http-backend`` for each request against repositories under ``root``."""

    def __init__(self, root: pathlib.Path, *, git: str) -> None:
        self.root = root
        self.git = git
        self._create_lock = asyncio.Lock()

    async def ensure_repository(self, relative: str) -> None:
        """Create the bare repository ``relative`` (checked by the caller) when missing."""
        if not _REPO_PATH.match(relative) or ".." in relative.split("/"):
            raise web.HTTPNotFound(text="not a repository path\n")
        target = self.root / relative
        async with self._create_lock:
            if (target / "HEAD").exists():
                return
            target.parent.mkdir(parents=True, exist_ok=True)
            process = await asyncio.create_subprocess_exec(
                self.git, "init", "--quiet", "--bare", "--initial-branch=main", str(target),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            _, stderr = await process.communicate()
            if process.returncode != 0:
                raise web.HTTPInternalServerError(text=stderr.decode(errors="replace"))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        match = _REPO_IN_URL.match(request.path)
        if match is None or ".." in match["repo"].split("/"):
            raise web.HTTPNotFound(text="no such repository\n")
        pushing = request.query.get("service") == "git-receive-pack" or request.path.endswith(
            "/git-receive-pack"
        )
        if pushing:
            await self.ensure_repository(match["repo"])
        elif not (self.root / match["repo"] / "HEAD").exists():
            raise web.HTTPNotFound(text="no such repository\n")
        body = await request.read()
        cgi_request = gitcgi.Request(
            method=request.method,
            path=request.path,
            query=request.query_string,
            content_type=request.headers.get("Content-Type", ""),
            content_length=len(body),
            remote_addr=request.remote or "127.0.0.1",
            git_protocol=request.headers.get("Git-Protocol", ""),
            content_encoding=request.headers.get("Content-Encoding", ""),
        )
        # NB: http-backend refuses pushes from anonymous users unless
        # http.receivepack is set.
        env = gitcgi.environment(cgi_request, root=str(self.root), extra=_RECEIVE_PACK)
        process = await asyncio.create_subprocess_exec(
            self.git, "http-backend",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        stdout, stderr = await process.communicate(body)
        if process.returncode != 0 and not stdout:
            raise web.HTTPInternalServerError(text=stderr.decode(errors="replace"))
        response = gitcgi.parse_response(stdout)
        return web.Response(status=response.status, headers=response.headers, body=response.body)


def make_app(backend: GitBackend) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    app = web.Application(client_max_size=1024**3)
    app.router.add_get("/healthz", healthz)
    app.router.add_route("GET", "/{path:.+}", backend.handle)
    app.router.add_route("POST", "/{path:.+}", backend.handle)
    return app


async def serve(root: pathlib.Path, *, host: str, port: int, git: str, stop: asyncio.Event) -> None:
    """Serve until ``stop`` is set."""
    runner = web.AppRunner(make_app(GitBackend(root, git=git)), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        print(f"headwater gitserver: serving {root} on http://{host}:{port}/", flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()


async def _main(args: argparse.Namespace, git: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await serve(args.root, host=args.host, port=args.port, git=git, stop=stop)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m headwater.gitserver", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--root", type=pathlib.Path, required=True, help="bare repositories")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8470)
    args = parser.parse_args(argv)
    git = shutil.which("git")
    if git is None:
        print("headwater gitserver: git is not installed (run 'make setup')", file=sys.stderr)
        return 1
    args.root.mkdir(parents=True, exist_ok=True)
    args.root = args.root.resolve()
    asyncio.run(_main(args, git))
    return 0


if __name__ == "__main__":
    sys.exit(main())
