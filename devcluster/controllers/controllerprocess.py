"""The controller manager as a child process of the server: start, supervise, stop.

The simulated controllers run beside the server, as kube-controller-manager
runs beside kube-apiserver, so the server's one core does not pay for their
informers and reconciles. Both sides of the contract live here:

- command line: ``<python> -m devcluster.controllers.controllermanager --server URL
  --simulate-delay S [--ca-file PATH]``. The bearer token is never an argument
  (anyone can read a command line in ``ps``): the server writes it as the first
  line of the child's stdin, an empty line when there is none.
- the server never writes to that pipe again and keeps it open while it runs,
  so EOF on the child's stdin means the server is gone — even SIGKILLed, since
  the kernel then closes the pipe — and the child stops itself: no orphans.
- the child runs in its own session, so a terminal's Ctrl-C reaches only the
  server, which is the one owner of the child's lifecycle: it stops the child
  by PID (SIGTERM, then SIGKILL after ``grace`` seconds) before it exits.
- an exit the server did not ask for is logged and the child started again
  after a backoff that doubles from ``backoff`` up to ``backoff_cap`` seconds,
  back to ``backoff`` once a child has lived ``stable`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import pathlib
import signal
import sys
from collections.abc import Callable

from headwater import stopping

MODULE = "devcluster.controllers.controllermanager"

log = logging.getLogger("devcluster")


@dataclasses.dataclass(frozen=True)
class Launch:
    """What the child needs to reach the server's API."""

    base_url: str
    token: str | None
    ca_file: pathlib.Path | None
    simulate_delay: float

    def command(self, *, python: str = sys.executable) -> list[str]:
        argv = [python, "-m", MODULE, "--server", self.base_url]
        argv += ["--simulate-delay", repr(self.simulate_delay)]
        if self.ca_file is not None:
            argv += ["--ca-file", str(self.ca_file)]
        return argv

    def stdin_line(self) -> bytes:
        return (self.token or "").encode() + b"\n"


def read_token(fd: int) -> str | None:
    """The child's side: read the first line of ``fd`` (blocking); ``None`` for no token.

    Reads byte-wise straight from the descriptor so nothing past the line is
    buffered away from the EOF watch that follows (``watch_for_eof``).
    Raises ``EOFError`` if the pipe closes first (the server is already gone).
    """
    line = bytearray()
    while not line.endswith(b"\n"):
        chunk = os.read(fd, 1)
        if not chunk:
            raise EOFError("the server closed the controller manager's stdin")
        line += chunk
    token = line[:-1].decode()
    return token or None


def watch_for_eof(fd: int, *, on_eof: Callable[[], None]) -> None:
    """The child's side: call ``on_eof`` once ``fd`` reaches end of file (the server died)."""
    loop = asyncio.get_running_loop()

    def readable() -> None:
        # NB: the server writes nothing after the token, so readable means EOF;
        # reading still drains anything unexpected rather than spinning on it.
        if not os.read(fd, 4096):
            loop.remove_reader(fd)
            on_eof()

    loop.add_reader(fd, readable)


class Supervisor:
    """Keeps one controller-manager child running until ``run``'s ``stop`` is set."""

    def __init__(
        self,
        launch: Launch,
        *,
        grace: float = 5.0,
        backoff: float = 0.5,
        backoff_cap: float = 30.0,
        stable: float = 60.0,
    ) -> None:
        self._launch = launch
        self._grace = grace
        self._backoff = backoff
        self._backoff_cap = backoff_cap
        self._stable = stable
        self._process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        """The running child's PID (``None`` between a crash and the restart)."""
        process = self._process
        return process.pid if process is not None and process.returncode is None else None

    async def run(self, stop: asyncio.Event) -> None:
        """Start the child, restart it when it dies, stop it when ``stop`` is set.

        Also stops it when cancelled, so the child never outlives this task.
        """
        try:
            await self._supervise(stop)
        finally:
            process = self._process
            if process is not None and process.returncode is None:
                await self._terminate(process)

    async def _supervise(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        delay = self._backoff
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                started = loop.time()
                try:
                    process = await self._spawn()
                except OSError as error:
                    # E.g. the interpreter is gone or fds ran out: retry like a crash.
                    log.error(
                        "controller manager could not start (%s); retrying in %.1fs", error, delay
                    )
                else:
                    exited = asyncio.ensure_future(process.wait())
                    await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
                    if not exited.done():
                        exited.cancel()
                        return
                    self._close_stdin(process)
                    if loop.time() - started >= self._stable:
                        delay = self._backoff
                    log.error(
                        "controller manager (pid %d) exited with %s; restarting in %.1fs",
                        process.pid,
                        _describe(process.returncode),
                        delay,
                    )
                await asyncio.wait({stopping}, timeout=delay)
                delay = min(delay * 2, self._backoff_cap)
        finally:
            stopping.cancel()

    async def _spawn(self) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            *self._launch.command(),
            stdin=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        self._process = process
        if process.stdin is not None:
            process.stdin.write(self._launch.stdin_line())
            # If it died at once, the supervision loop sees its exit status.
            with contextlib.suppress(ConnectionError):
                await process.stdin.drain()
        log.info("controller manager started (pid %d)", process.pid)
        return process

    async def _terminate(self, process: asyncio.subprocess.Process) -> None:
        """SIGTERM the child by PID; SIGKILL it if it has not exited in ``grace`` seconds."""
        try:
            if await stopping.stop_async(process, grace=self._grace) == "killed":
                log.warning(
                    "controller manager (pid %d) ignored SIGTERM for %.1fs; killed it",
                    process.pid,
                    self._grace,
                )
            log.info(
                "controller manager (pid %d) stopped (%s)",
                process.pid,
                _describe(process.returncode),
            )
        finally:
            self._close_stdin(process)

    @staticmethod
    def _close_stdin(process: asyncio.subprocess.Process) -> None:
        if process.stdin is not None:
            process.stdin.close()


def _describe(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        return f"signal {signal.Signals(-returncode).name}"
    return f"code {returncode}"
