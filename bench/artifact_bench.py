"""Artifact benchmark: package, serve and fetch a 5,000-file tree.

Run: ``.venv/bin/python -m bench.artifact_bench [--files N] [--repeat K]``.

Measured in one run on the same tree, medians of K repetitions:

- ``archive``: ignore rules + deterministic tar.gz + sha256 + atomic store
  (``Storage.archive``), timed inside a fresh child process whose peak RSS is
  read from ``wait4``; against ``tar czf`` of the same tree (GNU tar + gzip
  -6, what Flux's Go archiver is usually compared with). Target ratio <= 1.5,
  peak RSS < 150 MiB.
- ``fetch``: download from the artifact server + digest check + safe
  extraction (``fetching.fetched``); against ``tar xzf`` of the same file.
- ``deterministic``: two archives of the tree have the same digest.

Wall-clock ratios are noisy on a shared machine, so the best-of ratio and
the CPU-time ratio (user + system of all threads or processes) are printed
beside the medians.

Prints one JSON document; exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import aiohttp

from bench import childrun, trees
from shared.artifacts import fetching, ignoring, serving, storage

KEY = storage.ObjectKey(kind="GitRepository", namespace="bench", name="tree")
_CHILD = """
import asyncio, json, sys, time
from shared.artifacts import ignoring, storage
tree, store_root = sys.argv[1], sys.argv[2]
store = storage.Storage(store_root, advertised_address="localhost")
key = storage.ObjectKey(kind="GitRepository", namespace="bench", name="tree")
async def main():
    start, cpu = time.perf_counter(), time.process_time()
    matcher = ignoring.source_matcher(tree, spec_ignore=None)
    artifact = await store.archive(key, source=tree, revision="bench", exclude=matcher)
    return time.perf_counter() - start, time.process_time() - cpu, artifact
seconds, cpu, artifact = asyncio.run(main())
result = {"seconds": seconds, "cpu": cpu, "digest": artifact.digest, "size": artifact.size}
print(json.dumps(result))
"""


def _timed(command: list[str]) -> float:
    return _timed_with_cpu(command)[0]


def _timed_with_cpu(command: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, all its processes) of a command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return wall, cpu


async def _fetch(url: str, digest: str, temp_root: pathlib.Path) -> tuple[float, int]:
    async with aiohttp.ClientSession() as session:
        start = time.perf_counter()
        async with fetching.fetched(session, url, digest=digest, temp_root=temp_root) as tree:
            elapsed = time.perf_counter() - start
            count = sum(len(files) for _, _, files in os.walk(tree))
    return elapsed, count


async def _fetch_runs(
    store_root: pathlib.Path, artifact_path: str, digest: str, work: pathlib.Path, repeat: int
) -> list[tuple[float, int]]:
    runs = []
    async with serving.running(store_root) as server:
        url = f"{server.base_url}/{artifact_path}"
        for _ in range(repeat):
            runs.append(await _fetch(url, digest, work))
    return runs


def run(files: int, repeat: int) -> dict[str, Any]:
    work = pathlib.Path(tempfile.mkdtemp(prefix="artifact-bench-"))
    try:
        tree = trees.make_tree(work / "tree", files=files)
        store_root = work / "store"
        ours, theirs, rss, digests_seen = [], [], [], set()
        ours_cpu, theirs_cpu = [], []
        size = 0
        for _ in range(repeat):
            child = childrun.run_python(_CHILD, str(tree), str(store_root), what="archive child")
            ours.append(child["seconds"])
            ours_cpu.append(child["cpu"])
            rss.append(child["peak_rss_mib"])
            digests_seen.add(child["digest"])
            size = child["size"]
            wall, cpu = _timed_with_cpu(["tar", "czf", str(work / "tar.tgz"), "-C", str(tree), "."])
            theirs.append(wall)
            theirs_cpu.append(cpu)
        digest = next(iter(digests_seen))
        artifact_path = f"{KEY.directory()}/{digest.split(':', 1)[1]}.tar.gz"
        (work / "fetch").mkdir()
        fetches = asyncio.run(
            _fetch_runs(store_root, artifact_path, digest, work / "fetch", repeat)
        )
        untar = []
        for _ in range(repeat):
            target = work / "untar"
            target.mkdir()
            untar.append(_timed(["tar", "xzf", str(store_root / artifact_path), "-C", str(target)]))
            shutil.rmtree(target)
        archived_files = fetches[0][1]
        excluded = ignoring.source_matcher(tree, spec_ignore=None)
        archive_s = statistics.median(ours)
        tar_s = statistics.median(theirs)
        fetch_s = statistics.median(f for f, _ in fetches)
        untar_s = statistics.median(untar)
        return {
            "files_in_tree": files,
            "files_in_artifact": archived_files,
            "default_exclusions_applied": excluded("docs/diagram.png", False),
            "artifact_bytes": size,
            "archive_seconds_median": round(archive_s, 4),
            "tar_czf_seconds_median": round(tar_s, 4),
            "archive_vs_tar_czf_ratio": round(archive_s / tar_s, 3),
            "archive_vs_tar_czf_ratio_best_of": round(min(ours) / min(theirs), 3),
            "archive_cpu_seconds_median": round(statistics.median(ours_cpu), 4),
            "tar_czf_cpu_seconds_median": round(statistics.median(theirs_cpu), 4),
            "archive_vs_tar_czf_cpu_ratio": round(
                statistics.median(ours_cpu) / statistics.median(theirs_cpu), 3
            ),
            "archive_peak_rss_mib_max": round(max(rss), 1),
            "deterministic": len(digests_seen) == 1,
            "fetch_extract_seconds_median": round(fetch_s, 4),
            "tar_xzf_seconds_median": round(untar_s, 4),
            "fetch_vs_tar_xzf_ratio": round(fetch_s / untar_s, 3),
            "repeat": repeat,
            "cpus": os.cpu_count(),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    arguments = parser.parse_args()
    result = run(arguments.files, arguments.repeat)
    result["targets_met"] = (
        result["archive_vs_tar_czf_ratio"] <= 1.5
        and result["archive_peak_rss_mib_max"] < 150
        and result["deterministic"]
    )
    print(json.dumps(result, indent=2))
    return 0 if result["targets_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
