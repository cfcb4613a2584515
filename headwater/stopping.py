"""Stopping a process by its PID: SIGTERM, then SIGKILL after a grace period.

The one sequence every caller uses (``headwater dev``, the devcluster's
controller-manager supervisor, ``make demo``, the test fixtures, benchmarks):

1. a process that has already exited is not signalled (its PID may be reused);
2. SIGTERM, then up to ``grace`` seconds for it to exit;
3. SIGKILL when it has not, then wait for it again.

A signal that finds the process gone (it exited in between) is not an error.
Each call says how the process ended: ``"not running"`` (it had exited
before), ``"stopped"`` (by SIGTERM) or ``"killed"``. A process we started is
reaped, so it never lingers as a zombie. This module imports only the
standard library, so every layer of ``headwater`` (and tests and benchmarks)
may use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import subprocess
from collections.abc import Callable
from typing import Literal

Outcome = Literal["not running", "stopped", "killed"]


def terminate(pid: int, *, grace: float, gone: Callable[[float], bool]) -> Outcome:
    """SIGTERM ``pid``; SIGKILL it when ``gone(grace)`` says it has not exited.

    ``gone(timeout)`` waits up to ``timeout`` seconds and returns whether the
    process has exited; after SIGKILL it is called once more, so the process
    is reaped before this returns. The caller has checked that ``pid`` is
    (still) the process it means.
    """
    _signal(pid, signal.SIGTERM)
    if gone(grace):
        return "stopped"
    _signal(pid, signal.SIGKILL)
    gone(grace)
    return "killed"


def stop(process: subprocess.Popen[str] | subprocess.Popen[bytes], *, grace: float) -> Outcome:
    """Stop a child we started with ``subprocess`` (see ``terminate``).

    Raises ``subprocess.TimeoutExpired`` when it has not exited even ``grace``
    seconds after SIGKILL (stuck in the kernel), as ``Popen.wait`` does.
    """
    if process.poll() is not None:
        return "not running"
    outcome = terminate(process.pid, grace=grace, gone=functools.partial(_reaped, process))
    if process.returncode is None:
        raise subprocess.TimeoutExpired(process.args, grace)
    return outcome


def _reaped(process: subprocess.Popen[str] | subprocess.Popen[bytes], timeout: float) -> bool:
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    return True


async def stop_async(process: asyncio.subprocess.Process, *, grace: float) -> Outcome:
    """Stop a child we started with ``asyncio`` (see ``terminate``), without blocking the loop.

    After SIGKILL it waits for the exit without a deadline: the kernel ends a
    SIGKILLed process, and the caller reports its exit status.
    """
    if process.returncode is not None:
        return "not running"
    _signal(process.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), timeout=grace)
    except TimeoutError:
        _signal(process.pid, signal.SIGKILL)
        await process.wait()
        return "killed"
    return "stopped"


def _signal(pid: int, signum: signal.Signals) -> None:
    # NB: the process may have exited (and been reaped) since it was checked.
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)
