"""Flux's MTTP shape with OCIRepositories: N objects on one local registry, not a test.

A real registry (Debian's ``docker-registry``), a devcluster and a
source-controller run as processes on 127.0.0.1. One Flux artifact (the
MTTP manifests of ``bench.mttp_bench``) is pushed with ``headwater
artifact push``; then N OCIRepositories pulling it are created at once,
each through a counting forward proxy (``proxySecretRef``) so that every
registry request is seen.

Figures printed (JSON):
- ``seconds_to_all_ready``: from creating the OCIRepositories to all Ready;
- ``registry_requests_per_object``: registry requests per first reconcile;
- ``requests_per_unchanged_reconcile``: registry requests per reconcile of
  an OCIRepository whose digest has not changed (a forced reconcile of
  every object; target 1, the ``HEAD`` of the tag);
- ``peak_rss_mib``: source-controller's peak resident memory (VmHWM).

Usage: python -m bench.oci_bench --count 100 [--count 500 …]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import tempfile
import time
from typing import Any

from bench import mttp_bench
from tests.fixtures import commands, countingproxy, processes
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures import registry as registry_fixtures


def _items(cluster: devcluster_fixtures.Devcluster) -> list[dict[str, Any]]:
    listing = json.loads(
        cluster.kubectl("get", "ocirepositories", "-n", "bench", "-o", "json", timeout=120).stdout
    )
    items: list[dict[str, Any]] = listing["items"]
    return items


def _ready(item: dict[str, Any]) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in item.get("status", {}).get("conditions", [])
    )


def _wait(cluster: devcluster_fixtures.Devcluster, count: int, done: Any, deadline: float) -> None:
    while sum(1 for item in _items(cluster) if done(item)) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"not all {count} OCIRepositories got there")
        time.sleep(0.5)


def _push(workdir: pathlib.Path, url: str) -> None:
    content = workdir / "content" / "app"
    content.mkdir(parents=True)
    for name, text in mttp_bench.TEMPLATE.items():
        (content / name).write_text(text)
    subprocess.run(
        [sys.executable, "-m", "headwater.cli.main", "artifact", "push", url, "--insecure",
         "--path", str(content.parent), "--source", "bench", "--revision", "bench@sha1:0"],
        check=True, capture_output=True, cwd=processes.REPO,
    )  # fmt: skip


def run(count: int, workdir: pathlib.Path) -> dict[str, Any]:
    registry = registry_fixtures.start_registry(workdir / "registry")
    try:
        url = f"oci://{registry.host}/bench/apps"
        _push(workdir, f"{url}:latest")
        with (
            countingproxy.counting_proxy() as proxy,
            devcluster_fixtures.start_devcluster(workdir / "cluster") as cluster,
        ):
            cluster.kubectl("apply", "--server-side", "-f", str(mttp_bench.CRDS))
            cluster.kubectl("wait", "--for=condition=Established", "crd", "--all")
            cluster.kubectl("create", "namespace", "bench")
            cluster.kubectl(
                "create", "secret", "generic", "proxy", "-n", "bench",
                f"--from-literal=address={proxy.url}",
            )  # fmt: skip
            addr = f"127.0.0.1:{devcluster_fixtures.free_port()}"
            with processes.start_controller(
                "controllers.source",
                ["--kubeconfig", str(cluster.kubeconfig), "--watch-all-namespaces=false",
                 "--storage-path", str(workdir / "storage"),
                 "--storage-addr", addr, "--storage-adv-addr", addr],
                log=workdir / "source.log", env={"RUNTIME_NAMESPACE": "bench"},
            ) as source:  # fmt: skip
                documents = [
                    {
                        "apiVersion": "source.toolkit.fluxcd.io/v1",
                        "kind": "OCIRepository",
                        "metadata": {"name": f"app-{i}", "namespace": "bench"},
                        "spec": {
                            "interval": "1h", "url": url, "insecure": True,
                            "proxySecretRef": {"name": "proxy"},
                        },
                    }
                    for i in range(count)
                ]  # fmt: skip
                started = time.monotonic()
                stream = "\n---\n".join(json.dumps(document) for document in documents)
                cluster.kubectl("apply", "-f", "-", input=stream, timeout=600)
                deadline = started + 1800
                _wait(cluster, count, _ready, deadline)
                elapsed = time.monotonic() - started
                first = proxy.count()
                stamp = str(time.time())
                cluster.kubectl(
                    "annotate", "-n", "bench", "ocirepositories", "--all", "--overwrite",
                    f"reconcile.fluxcd.io/requestedAt={stamp}", timeout=600,
                )  # fmt: skip
                _wait(
                    cluster, count,
                    lambda item: item["status"].get("lastHandledReconcileAt") == stamp,
                    deadline,
                )  # fmt: skip
                unchanged = proxy.count() - first
                peak = mttp_bench._peak_rss_mib(source.process.pid)
    finally:
        commands.stop(registry.process)
    return {
        "count": count,
        "seconds_to_all_ready": round(elapsed, 1),
        "registry_requests_per_object": round(first / count, 2),
        "requests_per_unchanged_reconcile": round(unchanged / count, 2),
        "peak_rss_mib": peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, action="append", help="OCIRepositories (repeatable)")
    args = parser.parse_args()
    for count in args.count or [100]:
        with tempfile.TemporaryDirectory(prefix="oci-bench-") as workdir:
            print(json.dumps(run(count, pathlib.Path(workdir))), flush=True)


if __name__ == "__main__":
    main()
