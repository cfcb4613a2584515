"""Controllers as processes: an oversize repository fails clearly; a restart cleans up a crash."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
from collections.abc import Callable

import pytest

from shared.runtime import scratch
from tests.e2e import objects
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures import processes
from tests.fixtures.gitservers import GitServer, RepoBuilder
from tests.fixtures.polling import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MAX_SIZE = 1024 * 1024


def _source_args(cluster: devcluster_fixtures.Devcluster, storage: pathlib.Path) -> list[str]:
    addr = f"127.0.0.1:{devcluster_fixtures.free_port()}"
    return [
        "--kubeconfig", str(cluster.kubeconfig), "--watch-all-namespaces=false",
        "--storage-path", str(storage), "--storage-addr", addr, "--storage-adv-addr", addr,
    ]  # fmt: skip


def test_a_repository_over_the_artifact_max_size_fails_at_the_source(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    tmp_path: pathlib.Path,
    http_server: GitServer,
    make_repo: Callable[..., RepoBuilder],
) -> None:
    repo = make_repo("big.git")
    repo.commit(
        "a large file", {"kustomization.yaml": "resources: []\n", "big.bin": b"x" * 2 * MAX_SIZE}
    )
    with processes.start_controller(
        "controllers.source",
        [*_source_args(cluster, tmp_path / "storage"), "--artifact-max-size", "1Mi"],
        log=tmp_path / "source-controller.log",
        env={"RUNTIME_NAMESPACE": namespace},
    ) as controller:
        objects.apply(
            cluster,
            {
                "apiVersion": "source.toolkit.fluxcd.io/v1",
                "kind": "GitRepository",
                "metadata": {"name": "big", "namespace": namespace},
                "spec": {"interval": "1h", "url": http_server.url("big.git")},
            },
        )

        def failed() -> dict[str, object] | None:
            obj = objects.get(cluster, namespace, "gitrepository", "big")
            return objects.condition(obj, "StorageOperationFailed")

        condition = eventually_sync(failed, within=60)
        total = 2 * MAX_SIZE + len("resources: []\n")
        assert condition["reason"] == "ArchiveOperationFailed"
        assert f"total {total} bytes" in str(condition["message"])
        assert f"maximum artifact size of {MAX_SIZE} bytes" in str(condition["message"])
        ready = objects.condition(objects.get(cluster, namespace, "gitrepository", "big"), "Ready")
        assert ready is not None
        assert (ready["status"], ready["reason"]) == ("False", "ArchiveOperationFailed")
        warnings = [
            e
            for e in objects.events(cluster, namespace)
            if e["type"] == "Warning" and e["reason"] == "ArchiveOperationFailed"
        ]
        assert warnings
        assert f"{MAX_SIZE} bytes" in warnings[0]["message"]
        errors = [
            line
            for line in controller.output().splitlines()
            if "[error" in line and "Reconciliation failed" in line
        ]
        assert errors
        assert f"total {total} bytes" in errors[0]
    artifacts = [p for p in (tmp_path / "storage").rglob("*") if p.is_file() and p.name != ".lock"]
    assert artifacts == []


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _own_directory(root: pathlib.Path, controller: str, pid: int) -> pathlib.Path | None:
    found = list(root.glob(f"{scratch.PREFIX}{controller}-{pid}-*"))
    return found[0] if found else None


@pytest.mark.parametrize(
    ("module", "controller"),
    [
        ("controllers.source", "source-controller"),
        ("controllers.kustomize", "kustomize-controller"),
    ],
)
def test_a_restart_removes_what_a_killed_process_left_and_nothing_else(
    cluster: devcluster_fixtures.Devcluster,
    namespace: str,
    tmp_path: pathlib.Path,
    module: str,
    controller: str,
) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {"RUNTIME_NAMESPACE": namespace, "TMPDIR": str(temp)}
    storage = tmp_path / "storage"
    me = os.getpid()
    live = temp / scratch.directory_name(controller, pid=me, start=scratch.start_time(me) or 0)
    other = "kustomize-controller" if controller == "source-controller" else "source-controller"
    foreign = temp / scratch.directory_name(other, pid=_dead_pid(), start=1)
    for kept in (live, foreign):
        kept.mkdir()
        (kept / "file").write_text("kept")
    args = (
        _source_args(cluster, storage)
        if controller == "source-controller"
        else ["--kubeconfig", str(cluster.kubeconfig), "--watch-all-namespaces=false"]
    )
    partial = storage / "gitrepository" / namespace / "crashed" / ".tmp-0123456789abcdef"

    with processes.start_controller(module, args, log=tmp_path / "first.log", env=env) as first:
        crashed = _own_directory(temp, controller, first.process.pid)
        assert crashed is not None
        # What a clone or a build in progress holds when the process dies.
        (crashed / "headwater-gitrepo-x" / "tree").mkdir(parents=True)
        (crashed / "headwater-gitrepo-x" / "tree" / "big.bin").write_bytes(b"y" * 100_000)
        if controller == "source-controller":
            partial.parent.mkdir(parents=True)
            partial.write_bytes(b"half an archive")
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait()
    assert crashed.exists()

    with processes.start_controller(module, args, log=tmp_path / "second.log", env=env) as second:
        eventually_sync(lambda: not crashed.exists(), within=30)
        assert _own_directory(temp, controller, second.process.pid) is not None
        assert (live / "file").read_text() == "kept"
        assert (foreign / "file").read_text() == "kept"
        if controller == "source-controller":
            assert not partial.exists()
            assert "removed partial storage files" in second.output()
        assert "removed stale temporary directories" in second.output()
