"""SIGTERM-then-SIGKILL, the one way every tool and fixture stops a process it started."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys

import pytest

from headwater import devprocesses, stopping

# The child says "ready" once its SIGTERM disposition is in place, so the
# test never signals it before that (no fixed sleep needed).
_OBEYS = "import time; print('ready', flush=True); time.sleep(600)"
_IGNORES = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ready', flush=True); time.sleep(600)"
)


def _start(script: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    assert process.stdout is not None
    assert process.stdout.readline() == b"ready\n"
    process.stdout.close()
    return process


@pytest.mark.parametrize(
    ("script", "outcome", "signum"),
    [(_OBEYS, "stopped", signal.SIGTERM), (_IGNORES, "killed", signal.SIGKILL)],
)
def test_stop_ends_and_reaps_the_child(script: str, outcome: str, signum: signal.Signals) -> None:
    process = _start(script)

    assert stopping.stop(process, grace=0.5) == outcome

    assert process.returncode == -signum


def test_a_child_that_already_exited_is_not_signalled() -> None:
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    process.wait(timeout=30)

    assert stopping.stop(process, grace=0.5) == "not running"
    assert process.returncode == 3


@pytest.mark.parametrize(
    ("script", "outcome", "signum"),
    [(_OBEYS, "stopped", signal.SIGTERM), (_IGNORES, "killed", signal.SIGKILL)],
)
async def test_stop_async_ends_and_reaps_the_child(
    script: str, outcome: str, signum: signal.Signals
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    assert await process.stdout.readline() == b"ready\n"

    assert await stopping.stop_async(process, grace=0.5) == outcome

    assert process.returncode == -signum


async def test_stop_async_leaves_an_exited_child_alone() -> None:
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", "raise SystemExit(4)")
    await process.wait()

    assert await stopping.stop_async(process, grace=0.5) == "not running"
    assert process.returncode == 4


def test_terminate_by_recorded_identity_kills_what_ignores_sigterm() -> None:
    process = _start(_IGNORES)
    identity = devprocesses.identity_of(process.pid)

    outcome = devprocesses.terminate(identity, grace=0.5, process=process)

    assert outcome == "killed"
    assert not identity.alive()
    assert devprocesses.terminate(identity, grace=0.5) == "not running"
