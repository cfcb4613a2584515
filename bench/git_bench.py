"""Git source benchmark: fetch + package a 5,000-file repository, and the unchanged case.

Run: ``.venv/bin/python -m bench.git_bench [--files N] [--repeat K]``.

Setup: a synthetic GitOps tree (``bench.trees``) committed to a bare repository
served by ``git http-backend`` (``tests.fixtures.githttpd``, its own process)
on 127.0.0.1. Measured in one run, medians of K repetitions:

- ``fetch_package``: ``syncing.sync`` from nothing — ls-remote, shallow fetch
  (dulwich), tree write, ignore rules, deterministic tar.gz, sha256, atomic
  store — timed inside a fresh child process whose peak RSS is read from
  ``wait4``; against ``git clone --depth 1`` + ``tar czf`` of the same tree
  (both timed as one command pair). Target ratio <= 1.5, peak RSS < 150 MiB.
  Wall time is what the target names; client CPU time (user + system; the
  server's work excluded on both sides) is printed too because it is far less
  sensitive to other load on the machine.
- ``unchanged``: a second sync given the first one's status: HTTP requests the
  server saw (target 1) and files created or modified under the storage root
  (target 0).

Prints one JSON document; exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from bench import childrun, trees
from controllers.source.git import syncing
from shared.api import source
from shared.artifacts import storage
from tests.fixtures import gitservers

ROOT = pathlib.Path(__file__).resolve().parent.parent
KEY = storage.ObjectKey(kind="GitRepository", namespace="bench", name="repo")

_CHILD = """
import asyncio, json, sys, time
from controllers.source.git import syncing
from shared.api import source
from shared.artifacts import storage
url, store_root = sys.argv[1], sys.argv[2]
store = storage.Storage(store_root, advertised_address="localhost")
key = storage.ObjectKey(kind="GitRepository", namespace="bench", name="repo")
spec = source.GitRepositorySpec(url=url, interval="1m")
async def main():
    start, cpu = time.perf_counter(), time.process_time()
    outcome = await syncing.sync(
        key=key, spec=spec, status=None, credentials=syncing.Credentials(), store=store
    )
    return time.perf_counter() - start, time.process_time() - cpu, outcome
seconds, cpu, outcome = asyncio.run(main())
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "digest": outcome.artifact.digest,
                  "revision": outcome.artifact.revision, "size": outcome.artifact.size}))
"""


def _run_measured(command: list[str], *, env: dict[str, str] | None = None) -> float:
    """Run ``command``; return its CPU seconds (user + system, its waited children included)."""
    process = subprocess.Popen(command, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{command[0]} failed with {process.returncode}")
    return usage.ru_utime + usage.ru_stime


def _git_clone_and_tar(url: str, work: pathlib.Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of ``git clone --depth 1`` + ``tar czf``."""
    clone = work / "clone"
    start = time.perf_counter()
    cpu = _run_measured(
        ["git", "clone", "--quiet", "--depth", "1", "--single-branch", "--branch", "master",
         url, str(clone)],
        env=gitservers.git_env(),
    )  # fmt: skip
    cpu += _run_measured(
        ["tar", "czf", str(work / "clone.tgz"), "--exclude=.git", "-C", str(clone), "."]
    )
    elapsed = time.perf_counter() - start
    shutil.rmtree(clone)
    return elapsed, cpu


def _snapshot(root: pathlib.Path) -> dict[str, tuple[float, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_mtime, p.stat().st_size)
        for p in root.rglob("*")
        if p.is_file()
    }


async def _unchanged(
    url: str, store_root: pathlib.Path, server: gitservers.GitServer
) -> dict[str, Any]:
    store = storage.Storage(store_root, advertised_address="localhost")
    spec = source.GitRepositorySpec(url=url, interval="1m")
    first = await syncing.sync(
        key=KEY, spec=spec, status=None, credentials=syncing.Credentials(), store=store
    )
    status = source.GitRepositoryStatus(artifact=first.artifact)
    before = _snapshot(store_root)
    server.reset_log()
    start = time.perf_counter()
    again = await syncing.sync(
        key=KEY, spec=spec, status=status, credentials=syncing.Credentials(), store=store
    )
    elapsed = time.perf_counter() - start
    after = _snapshot(store_root)
    written = [name for name, stamp in after.items() if before.get(name) != stamp]
    return {
        "unchanged_skipped": not again.changed,
        "unchanged_round_trips": len(server.requests()),
        "unchanged_files_written": len(written),
        "unchanged_seconds": round(elapsed, 4),
    }


def _make_repository(work: pathlib.Path, files: int) -> pathlib.Path:
    tree = trees.make_tree(work / "tree", files=files)
    env = gitservers.git_env()
    gitservers.run(["git", "init", "--quiet", "--initial-branch=master", str(tree)], env=env)
    gitservers.run(["git", "-C", str(tree), "add", "-A"], env=env)
    gitservers.run(["git", "-C", str(tree), "commit", "--quiet", "-m", "bench tree"], env=env)
    root = work / "srv"
    root.mkdir()
    gitservers.run(
        ["git", "clone", "--quiet", "--bare", str(tree), str(root / "repo.git")], env=env
    )
    # A hosted repository is packed with deltas already; without this, the
    # server's delta search dominates both sides' times and hides the clients.
    gitservers.run(["git", "-C", str(root / "repo.git"), "repack", "-a", "-d", "-q"], env=env)
    return root


def run(files: int, repeat: int) -> dict[str, Any]:
    work = pathlib.Path(tempfile.mkdtemp(prefix="git-bench-"))
    server = None
    try:
        root = _make_repository(work, files)
        server = gitservers.start_githttpd(root, log=work / "requests.log")
        url = server.url("repo.git")
        ours, theirs, ours_cpu, theirs_cpu, rss, digests_seen = [], [], [], [], [], set()
        for index in range(repeat):
            child = childrun.run_python(
                _CHILD, url, str(work / f"store-{index}"), what="sync child"
            )
            ours.append(child["seconds"])
            ours_cpu.append(child["cpu_seconds"])
            rss.append(child["peak_rss_mib"])
            digests_seen.add(child["digest"])
            wall, cpu = _git_clone_and_tar(url, work)
            theirs.append(wall)
            theirs_cpu.append(cpu)
        unchanged = asyncio.run(_unchanged(url, work / "store-unchanged", server))
        ours_s = statistics.median(ours)
        theirs_s = statistics.median(theirs)
        return {
            "files_in_repository": files,
            "fetch_package_seconds_median": round(ours_s, 4),
            "git_clone_depth1_tar_czf_seconds_median": round(theirs_s, 4),
            "fetch_package_vs_git_clone_tar_ratio": round(ours_s / theirs_s, 3),
            "fetch_package_cpu_seconds_median": round(statistics.median(ours_cpu), 4),
            "git_clone_depth1_tar_czf_cpu_seconds_median": round(statistics.median(theirs_cpu), 4),
            "fetch_package_vs_git_clone_tar_cpu_ratio": round(
                statistics.median(ours_cpu) / statistics.median(theirs_cpu), 3
            ),
            "fetch_package_peak_rss_mib_max": round(max(rss), 1),
            "deterministic": len(digests_seen) == 1,
            **unchanged,
            "repeat": repeat,
            "cpus": os.cpu_count(),
        }
    finally:
        if server is not None:
            gitservers.stop(server.process)
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    arguments = parser.parse_args()
    result = run(arguments.files, arguments.repeat)
    result["targets_met"] = (
        result["fetch_package_vs_git_clone_tar_ratio"] <= 1.5
        and result["fetch_package_peak_rss_mib_max"] < 150
        and result["unchanged_round_trips"] == 1
        and result["unchanged_files_written"] == 0
    )
    print(json.dumps(result, indent=2))
    return 0 if result["targets_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
