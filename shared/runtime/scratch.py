"""Each controller process's own temporary directory, and removal of crashed ones'.

Contract: ``claim(controller)`` runs once at process start. It

1. removes every ``<temp dir>/headwater-<controller>-<pid>-<start>`` whose
   process is gone: no process with that PID, or one that started at another
   time (a PID re-used after a crash, or PID 1 again in a restarted
   container). Another controller's directories (another name) and those
   of live processes, even of the same controller, are never touched;
2. creates this process's own such directory and makes it the temporary
   directory of the process (``tempfile.tempdir``) and of its children
   (``TMPDIR``, for ``kubectl kustomize``), so every clone, spool, download
   and build directory made afterwards lives under it;
3. removes the directory again when the process exits normally.

What it removed is logged (one info line) once logging is configured.

So what a process killed mid-work (SIGKILL, OOM) left behind is removed by
the next start of the same controller. ``<start>`` is the process start time
in clock ticks since boot (``/proc/<pid>/stat``); where ``/proc`` is missing
it is 0 and only the PID is checked.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import pathlib
import re
import shutil
import tempfile
from typing import Final

from shared.runtime import logging

PREFIX: Final = "headwater-"
_NAME_RE: Final = re.compile(r"^(?P<pid>[0-9]+)-(?P<start>[0-9]+)$")


@dataclasses.dataclass(frozen=True)
class Claim:
    """This process's directory and the stale ones removed to make room."""

    directory: pathlib.Path
    removed: tuple[pathlib.Path, ...]


def start_time(pid: int) -> int | None:
    """The process's start time (clock ticks since boot); None when there is no such process.

    0 when the process exists but ``/proc`` cannot say when it started.
    """
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        if pathlib.Path("/proc/self/stat").exists():
            return None
    except OSError:
        pass
    else:
        # The command name (field 2) may hold spaces and parentheses; fields
        # after the last ")" start at field 3, and starttime is field 22.
        return int(stat.rpartition(")")[2].split()[19])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return 0


def directory_name(controller: str, *, pid: int, start: int) -> str:
    """The name of the directory of process ``pid`` (started at ``start``) of ``controller``."""
    return f"{PREFIX}{controller}-{pid}-{start}"


def remove_stale(controller: str, *, root: pathlib.Path) -> list[pathlib.Path]:
    """Remove ``controller``'s directories under ``root`` whose process is gone."""
    removed: list[pathlib.Path] = []
    prefix = f"{PREFIX}{controller}-"
    try:
        candidates = [entry for entry in os.scandir(root) if entry.name.startswith(prefix)]
    except FileNotFoundError:
        return removed
    for entry in candidates:
        match = _NAME_RE.match(entry.name[len(prefix) :])
        if match is None or not entry.is_dir(follow_symlinks=False):
            continue
        pid, start = int(match["pid"]), int(match["start"])
        if start_time(pid) in (start, 0):
            continue  # alive (or alive and undatable): not ours to remove
        shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(pathlib.Path(entry.path))
    return removed


def claim(controller: str) -> Claim:
    """Clean up after dead processes of ``controller`` and take this process's directory."""
    root = pathlib.Path(tempfile.gettempdir())
    removed = remove_stale(controller, root=root)
    pid = os.getpid()
    own = root / directory_name(controller, pid=pid, start=start_time(pid) or 0)
    own.mkdir(mode=0o700, exist_ok=True)
    tempfile.tempdir = str(own)
    os.environ["TMPDIR"] = str(own)
    atexit.register(shutil.rmtree, own, ignore_errors=True)
    if removed:
        logging.get_logger().info(
            "removed stale temporary directories", directories=[str(p) for p in removed]
        )
    return Claim(directory=own, removed=tuple(removed))
