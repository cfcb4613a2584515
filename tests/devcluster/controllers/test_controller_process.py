"""The controller manager runs as a child process of the server, which owns its lifecycle.

Each test starts its own server (they kill processes) and finds the child in
``/proc`` by its parent PID. A process counts as gone once it has no entry or
is a zombie: an orphan is reaped by whatever init the machine runs, whenever
that gets to it, but a zombie runs no code.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import pathlib
import signal
import time
from collections.abc import Iterator

import pytest

from devcluster.controllers import controllerprocess
from tests.fixtures import devcluster as fixtures
from tests.fixtures import polling

MODULE = controllerprocess.MODULE


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent PID) of a process, ``None`` if it has no ``/proc`` entry."""
    try:
        text = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # NB: the command name (field 2) is in parentheses and may contain spaces.
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1])


def alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"


def command_line(pid: int) -> list[str]:
    raw = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
    return [part.decode() for part in raw.split(b"\0") if part]


def controller_managers(parent: int) -> list[int]:
    """Live children of ``parent`` that run the controller manager module."""
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        stat = _stat(pid)
        if stat is None or stat[1] != parent or stat[0] == "Z":
            continue
        try:
            if MODULE in command_line(pid):
                found.append(pid)
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def the_controller_manager(server: int, *, other_than: int | None = None) -> int:
    def one() -> int | None:
        found = [pid for pid in controller_managers(server) if pid != other_than]
        return found[0] if len(found) == 1 else None

    pid: int = polling.poll(one, timeout=20.0, what="one controller-manager child of the server")
    return pid


def deployment(name: str) -> str:
    return json.dumps(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
                },
            },
        }
    )


def rolls_out(cluster: fixtures.Devcluster, name: str) -> None:
    cluster.kubectl("apply", "--server-side", "-f", "-", input=deployment(name))
    cluster.kubectl("rollout", "status", f"deployment/{name}", "--timeout=30s", timeout=60)


def test_controllers_run_in_a_child_without_the_token_on_its_command_line(
    tmp_path: pathlib.Path,
) -> None:
    with fixtures.start_devcluster(tmp_path / "tls", tls=True) as cluster:
        child = the_controller_manager(cluster.pid)
        token = cluster.token()
        assert token
        argv = command_line(child)
        assert argv[1:3] == ["-m", MODULE]
        assert cluster.base_url in argv
        assert not any(token in part for part in argv)
        assert token.encode() not in pathlib.Path(f"/proc/{child}/environ").read_bytes()
        # Over HTTPS with the token from stdin, the child's kubelet does its work.
        rolls_out(cluster, "web")


def test_sigterm_stops_the_controller_manager_first(tmp_path: pathlib.Path) -> None:
    with fixtures.start_devcluster(tmp_path / "term") as cluster:
        child = the_controller_manager(cluster.pid)
        assert fixtures.stop(cluster.process) == 0
        # The server waited for (and so reaped) its child before exiting.
        assert _stat(child) is None


def test_controller_manager_exits_when_the_server_is_killed(tmp_path: pathlib.Path) -> None:
    with fixtures.start_devcluster(tmp_path / "kill") as cluster:
        child = the_controller_manager(cluster.pid)
        os.kill(cluster.pid, signal.SIGKILL)
        try:
            polling.poll(
                lambda: not alive(child),
                timeout=20.0,
                what=f"orphaned controller manager {child} to exit",
            )
        finally:
            if alive(child):
                os.kill(child, signal.SIGKILL)


def test_killed_controller_manager_is_restarted(tmp_path: pathlib.Path) -> None:
    with fixtures.start_devcluster(tmp_path / "restart") as cluster:
        first = the_controller_manager(cluster.pid)
        os.kill(first, signal.SIGKILL)
        second = the_controller_manager(cluster.pid, other_than=first)
        assert second != first
        log = cluster.log.read_text()
        assert f"controller manager (pid {first}) exited with signal SIGKILL" in log
        # The new one picks up the work: a Deployment created now becomes ready.
        rolls_out(cluster, "after-restart")


def test_no_controllers_starts_no_child(tmp_path: pathlib.Path) -> None:
    with fixtures.start_devcluster(tmp_path / "none", controllers=False) as cluster:
        cluster.kubectl("get", "namespaces")
        assert controller_managers(cluster.pid) == []


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    read, write = os.pipe()
    yield read, write
    for fd in (read, write):
        try:
            os.close(fd)
        except OSError:
            continue


def launch(token: str | None) -> controllerprocess.Launch:
    return controllerprocess.Launch(
        base_url="https://127.0.0.1:1", token=token, ca_file=None, simulate_delay=0.2
    )


def test_token_travels_as_the_first_stdin_line(pipe: tuple[int, int]) -> None:
    read, write = pipe
    os.write(write, launch("s3cret").stdin_line() + launch(None).stdin_line())
    assert controllerprocess.read_token(read) == "s3cret"
    assert controllerprocess.read_token(read) is None
    assert "s3cret" not in launch("s3cret").command()


def test_pipe_closed_before_the_token_is_eof(pipe: tuple[int, int]) -> None:
    read, write = pipe
    os.write(write, b"partial")
    os.close(write)
    with pytest.raises(EOFError):
        controllerprocess.read_token(read)


async def test_eof_watch_fires_once_the_writer_is_gone(pipe: tuple[int, int]) -> None:
    read, write = pipe
    gone = asyncio.Event()
    controllerprocess.watch_for_eof(read, on_eof=gone.set)
    await asyncio.sleep(0)
    assert not gone.is_set()
    os.close(write)
    await asyncio.wait_for(gone.wait(), timeout=10)


async def test_crashing_child_is_restarted_with_a_capped_backoff(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A CA file that does not exist makes every real child exit 1 at start-up.
    crashing = controllerprocess.Launch(
        base_url="https://127.0.0.1:1",
        token="t",
        ca_file=tmp_path / "missing.crt",
        simulate_delay=0.2,
    )
    supervisor = controllerprocess.Supervisor(crashing, backoff=0.05, backoff_cap=0.2)
    caplog.set_level(logging.INFO, logger="devcluster")
    stop = asyncio.Event()
    supervising = asyncio.create_task(supervisor.run(stop))

    def exits() -> list[tuple[int, float]]:
        """(pid, backoff) of each logged unexpected exit."""
        found = []
        for record in caplog.records:
            args = record.args
            if "exited with" in str(record.msg) and isinstance(args, tuple):
                pid, _, delay = args
                assert isinstance(pid, int)
                assert isinstance(delay, float)
                found.append((pid, delay))
        return found

    try:
        deadline = time.monotonic() + 60
        while len(exits()) < 5:
            assert not supervising.done(), supervising
            assert time.monotonic() < deadline, caplog.text
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(supervising, timeout=30)
    assert [delay for _, delay in exits()[:5]] == [0.05, 0.1, 0.2, 0.2, 0.2]
    assert all("with code 1" in r.getMessage() for r in caplog.records if "exited" in r.msg)
    assert len({pid for pid, _ in exits()}) == len(exits())
    assert supervisor.pid is None
    assert not any(alive(pid) for pid, _ in exits())


async def test_child_that_outlasts_the_grace_period_is_killed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A real child (its server unreachable, it keeps retrying) given no grace:
    # wait_for with a zero timeout gives up at once, so SIGKILL follows.
    lingering = controllerprocess.Launch(
        base_url=f"http://127.0.0.1:{fixtures.free_port()}",
        token=None,
        ca_file=None,
        simulate_delay=0.2,
    )
    supervisor = controllerprocess.Supervisor(lingering, grace=0.0)
    caplog.set_level(logging.INFO, logger="devcluster")
    stop = asyncio.Event()
    supervising = asyncio.create_task(supervisor.run(stop))
    try:
        deadline = time.monotonic() + 30
        while supervisor.pid is None:
            assert time.monotonic() < deadline, caplog.text
            await asyncio.sleep(0.05)
        child = supervisor.pid
    finally:
        stop.set()
        await asyncio.wait_for(supervising, timeout=30)
    assert f"controller manager (pid {child}) ignored SIGTERM" in caplog.text
    # NB: which signal ended it is a race (a child still importing dies of the
    # SIGTERM itself); either way it is gone, and the supervisor said so.
    assert f"controller manager (pid {child}) stopped (signal SIG" in caplog.text
    assert not alive(child)
