"""Child processes of ``headwater dev``: start, wait until ready, identify, stop.

A ``Child`` is one long-running process (devcluster, Git server, a controller)
whose output goes to its own log file. Readiness is a caller-given probe polled
with a deadline; a child that exits while being waited for fails at once with
the tail of its log.

PIDs are recorded with the kernel's start time of the process (``/proc/PID/stat``
field 22) so that ``headwater dev down`` never signals an unrelated process
that reused a recorded PID.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import pathlib
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from headwater import stopping


class StartupError(RuntimeError):
    """A child did not become ready (it exited, or its deadline passed)."""


class StopRequestedError(RuntimeError):
    """A stop was requested (SIGINT/SIGTERM) while waiting for a child."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Identity:
    """A PID plus the process start time, which together name one process."""

    pid: int
    started: int

    def alive(self) -> bool:
        return start_time(self.pid) == self.started

    def as_json(self) -> dict[str, int]:
        return {"pid": self.pid, "started": self.started}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Identity:
        return cls(pid=int(data["pid"]), started=int(data["started"]))


def start_time(pid: int) -> int | None:
    """The start time (clock ticks since boot) of ``pid``, or None when it does not exist."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # NB: the command name (field 2) may hold spaces and parentheses; the
    # fields after it start behind the last ")".
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":  # a zombie has exited; only its exit status is left
        return None
    return int(fields[19])


def identity_of(pid: int) -> Identity:
    started = start_time(pid)
    if started is None:
        raise StartupError(f"process {pid} exited at once")
    return Identity(pid=pid, started=started)


@dataclasses.dataclass
class Child:
    """One running child process and where its output goes."""

    name: str
    process: subprocess.Popen[bytes]
    log: pathlib.Path
    identity: Identity

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def exited(self) -> int | None:
        return self.process.poll()


def spawn(
    name: str,
    command: Sequence[str],
    *,
    log: pathlib.Path,
    cwd: pathlib.Path,
    env: Mapping[str, str] | None = None,
) -> Child:
    """Start ``command`` in its own session, appending its output to ``log``.

    Its own session keeps a terminal's Ctrl-C away from the children: the
    supervisor receives it and stops them in order.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as sink:
        process = subprocess.Popen(
            list(command), cwd=cwd, stdin=subprocess.DEVNULL, stdout=sink,
            stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, start_new_session=True,
        )  # fmt: skip
    return Child(name=name, process=process, log=log, identity=identity_of(process.pid))


def wait_ready(
    child: Child,
    probe: Callable[[], bool],
    *,
    timeout: float,
    stop: threading.Event,
    interval: float = 0.1,
) -> float:
    """Poll ``probe`` until it is true; return the seconds it took.

    Raises ``StartupError`` when the child exits or ``timeout`` passes and
    ``StopRequestedError`` when ``stop`` is set meanwhile.
    """
    began = time.monotonic()
    deadline = began + timeout
    while not probe():
        code = child.exited()
        if code is not None:
            raise StartupError(
                f"{child.name} exited with status {code}; last lines of {child.log}:\n"
                f"{child.log_tail()}"
            )
        if time.monotonic() > deadline:
            raise StartupError(
                f"{child.name} was not ready within {timeout:.0f}s; last lines of {child.log}:\n"
                f"{child.log_tail()}"
            )
        if stop.wait(interval):
            raise StopRequestedError(f"stopped while waiting for {child.name}")
    return time.monotonic() - began


def http_ok(url: str) -> Callable[[], bool]:
    """A probe: true when GET ``url`` answers 200."""

    def probe() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    return probe


def terminate(
    identity: Identity, *, grace: float, process: subprocess.Popen[bytes] | None = None
) -> stopping.Outcome:
    """SIGTERM the process, SIGKILL it after ``grace`` seconds; say how it ended.

    ``process`` (when we started it) is reaped, so it does not linger as a zombie.
    """
    if not identity.alive():
        if process is not None:
            process.poll()
        return "not running"
    return stopping.terminate(
        identity.pid, grace=grace, gone=functools.partial(_wait_gone, identity, process)
    )


def _wait_gone(identity: Identity, process: subprocess.Popen[bytes] | None, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if process is not None:
            try:
                process.wait(timeout=0.05)
                return True
            except subprocess.TimeoutExpired:
                pass
        elif not identity.alive():
            return True
        else:
            time.sleep(0.05)
        if time.monotonic() > deadline:
            return False
