"""Per-process temporary directories: a dead process's are removed, live and foreign ones kept."""

from __future__ import annotations

import os
import pathlib
import subprocess

from shared.runtime import scratch


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _make(root: pathlib.Path, controller: str, *, pid: int, start: int) -> pathlib.Path:
    directory = root / scratch.directory_name(controller, pid=pid, start=start)
    (directory / "clone").mkdir(parents=True)
    (directory / "clone" / "file").write_bytes(b"x" * 1000)
    return directory


def test_only_the_controllers_own_dead_directories_are_removed(tmp_path: pathlib.Path) -> None:
    me = os.getpid()
    my_start = scratch.start_time(me)
    assert my_start is not None
    dead = _make(tmp_path, "source-controller", pid=_dead_pid(), start=1)
    reused = _make(tmp_path, "source-controller", pid=me, start=my_start + 1)
    live = _make(tmp_path, "source-controller", pid=me, start=my_start)
    foreign = _make(tmp_path, "kustomize-controller", pid=_dead_pid(), start=1)
    unrelated = tmp_path / "headwater-source-controller-notapid"
    unrelated.mkdir()

    removed = scratch.remove_stale("source-controller", root=tmp_path)

    assert sorted(removed) == sorted([dead, reused])
    assert [d.exists() for d in (dead, reused)] == [False, False]
    assert [d.exists() for d in (live, foreign, unrelated)] == [True, True, True]


def test_start_time_tells_a_missing_process() -> None:
    assert scratch.start_time(_dead_pid()) is None
    assert scratch.start_time(os.getpid())
