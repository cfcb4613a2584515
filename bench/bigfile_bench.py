"""Large-file benchmark: peak memory of packaging and fetching a repository with one big file.

Run: ``.venv/bin/python -m bench.bigfile_bench [--mib 500]``.

Setup, generated on the fly in a temporary directory (removed at the end;
it needs about five times the file's size of disk): a repository holding a
``kustomization.yaml`` and one file of ``--mib`` MiB of random bytes (so gzip
does real work and nothing compresses away), committed with the git CLI,
cloned bare and served by ``git http-backend`` (``tests.fixtures.githttpd``).

Measured, each in a fresh child process whose peak RSS is read from
``wait4`` (``bench.childrun``):

- ``fetch_package``: ``syncing.sync`` from nothing — ls-remote, shallow fetch,
  work tree, deterministic tar.gz, sha256, atomic store — what
  source-controller does for a new revision. Target: peak RSS < 200 MiB
  for a 500 MiB file (it was 1,056 MiB before blobs were streamed).
- ``download_extract``: the artifact server and ``fetching.fetched``
  (download, digest check, safe extraction) in one child: an upper bound
  of what kustomize-controller needs for the same artifact.

Prints one JSON document; exit status 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import sys
import tempfile
from typing import Any

from bench import childrun, git_bench
from tests.fixtures import gitservers

TARGET_MIB = 200

_FETCH_CHILD = """
import asyncio, json, os, sys, time
import aiohttp
from shared.artifacts import extracting, fetching, serving
root, path, digest, size, temp = sys.argv[1:6]
size = int(size)
async def main():
    async with serving.running(root) as server, aiohttp.ClientSession() as session:
        start = time.perf_counter()
        limits = extracting.Limits(max_total_size=2 * size)
        async with fetching.fetched(
            session, f"{server.base_url}/{path}", digest=digest, limits=limits, temp_root=temp
        ) as tree:
            files = {p.name: p.stat().st_size for p in tree.rglob("*") if p.is_file()}
        return time.perf_counter() - start, files
seconds, files = asyncio.run(main())
print(json.dumps({"seconds": seconds, "files": files}))
"""


def _make_repository(work: pathlib.Path, mib: int) -> pathlib.Path:
    tree = work / "tree"
    tree.mkdir()
    (tree / "kustomization.yaml").write_text("resources: []\n")
    with open(tree / "big.bin", "wb") as big:
        for _ in range(mib):
            big.write(os.urandom(1 << 20))
    env = gitservers.git_env()
    gitservers.run(["git", "init", "--quiet", "--initial-branch=master", str(tree)], env=env)
    # NB: over core.bigFileThreshold git add streams the file straight into a
    # pack, which the server then sends as it is (no second compression).
    gitservers.run(["git", "-C", str(tree), "-c", "core.bigFileThreshold=1m", "add", "-A"], env=env)
    gitservers.run(["git", "-C", str(tree), "commit", "--quiet", "-m", "big file"], env=env)
    root = work / "srv"
    root.mkdir()
    gitservers.run(
        ["git", "clone", "--quiet", "--bare", str(tree), str(root / "repo.git")], env=env
    )
    shutil.rmtree(tree)
    return root


def run(mib: int) -> dict[str, Any]:
    work = pathlib.Path(tempfile.mkdtemp(prefix="bigfile-bench-"))
    server = None
    try:
        root = _make_repository(work, mib)
        server = gitservers.start_githttpd(root, log=work / "requests.log")
        store = work / "store"
        package = childrun.run_python(
            git_bench._CHILD, server.url("repo.git"), str(store), what="sync child"
        )
        gitservers.stop(server.process)
        server = None
        shutil.rmtree(root)
        path = f"{git_bench.KEY.directory()}/{package['digest'].split(':', 1)[1]}.tar.gz"
        (work / "fetch").mkdir()
        fetch = childrun.run_python(
            _FETCH_CHILD,
            str(store),
            path,
            package["digest"],
            str(mib << 20),
            str(work / "fetch"),
            what="fetch child",
        )
        return {
            "file_mib": mib,
            "artifact_bytes": package["size"],
            "fetch_package_seconds": round(package["seconds"], 2),
            "fetch_package_cpu_seconds": round(package["cpu_seconds"], 2),
            "fetch_package_peak_rss_mib": round(package["peak_rss_mib"], 1),
            "download_extract_seconds": round(fetch["seconds"], 2),
            "download_extract_peak_rss_mib": round(fetch["peak_rss_mib"], 1),
            "extracted_big_file_bytes": fetch["files"].get("big.bin"),
        }
    finally:
        if server is not None:
            gitservers.stop(server.process)
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--mib", type=int, default=500, help="size of the big file in MiB")
    arguments = parser.parse_args()
    result = run(arguments.mib)
    result["targets_met"] = (
        result["fetch_package_peak_rss_mib"] < TARGET_MIB
        and result["extracted_big_file_bytes"] == arguments.mib << 20
    )
    print(json.dumps(result, indent=2))
    return 0 if result["targets_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
