"""Benchmark of the Helm engine against the Helm SDK's own install (not a test).

Figures, for N releases of one small chart (a ConfigMap, a Service and a
Deployment the devcluster's simulated kubelet makes ready) installed into one
devcluster, at most C at a time:
1. ``engine_installs_per_s`` and ``engine_upgrades_per_s`` (a values change,
   so every release gets a new revision and one changed object), waiting for
   readiness as Flux does;
2. ``engine_requests_per_install`` / ``_per_upgrade``: API requests of the
   engine per action, wait polls included;
3. ``sdk_installs_per_s``: the same installs through ``helm_python.Config.install``
   (Helm's own Go code, in C threads), for comparison;
4. ``rss_mib``: this process's resident memory at the end (engine, SDK loaded).

Usage: python -m bench.helm_engine_bench [--releases 20] [--concurrency 10]
It starts its own devcluster on 127.0.0.1 and stops it by PID at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import concurrent.futures
import os
import pathlib
import tempfile
import time
from typing import Any

CHART = {
    "Chart.yaml": "apiVersion: v2\nname: bench\nversion: 1.0.0\n",
    "values.yaml": "greeting: hello\n",
    "templates/all.yaml": """apiVersion: v1
kind: ConfigMap
metadata: {name: {{ .Release.Name }}}
data: {greeting: {{ .Values.greeting | quote }}}
---
apiVersion: v1
kind: Service
metadata: {name: {{ .Release.Name }}}
spec:
  selector: {app: {{ .Release.Name }}}
  ports: [{port: 80}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: {{ .Release.Name }}}
spec:
  replicas: 1
  selector: {matchLabels: {app: {{ .Release.Name }}}}
  template:
    metadata: {labels: {app: {{ .Release.Name }}}}
    spec: {containers: [{name: web, image: nginx}]}
""",
}


def _write_chart(root: pathlib.Path) -> pathlib.Path:
    for name, text in CHART.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def _rss_mib() -> float:
    for line in pathlib.Path(f"/proc/{os.getpid()}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _timed(actions: list[Any], concurrency: int) -> float:
    limit = asyncio.Semaphore(concurrency)

    async def one(action: Any) -> None:
        async with limit:
            await action

    started = time.perf_counter()
    await asyncio.gather(*(one(action) for action in actions))
    return time.perf_counter() - started


async def main(releases: int, concurrency: int) -> dict[str, float]:
    import helm_python as helm

    from controllers.helm.engine import engine, requests, storage
    from shared.kube import client
    from tests.fixtures import devcluster as devcluster_fixtures

    figures: dict[str, float] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        devcluster_fixtures.start_devcluster(pathlib.Path(tmp) / "cluster") as cluster,
    ):
        os.environ["KUBECACHEDIR"] = str(pathlib.Path(tmp) / "kube-cache")
        chart_dir = _write_chart(pathlib.Path(tmp) / "bench")
        chart = helm.Chart.load(chart_dir)
        for namespace in ("engine", "sdk"):
            cluster.kubectl("create", "namespace", namespace)
        async with client.connected(kubeconfig=str(cluster.kubeconfig)) as api:
            helm_engine = engine.Engine(api, storage.ReleaseStore(api, "engine"), poll_interval=0.5)

            def request(kind: Any, index: int, **values: Any) -> Any:
                return kind(
                    release_name=f"r{index:04d}",
                    namespace="engine",
                    chart=chart,
                    values=values,
                    timeout=120,
                )

            before = collections.Counter(api.stats)
            seconds = await _timed(
                [helm_engine.install(request(requests.InstallRequest, i)) for i in range(releases)],
                concurrency,
            )
            figures["engine_installs_per_s"] = releases / seconds
            figures["engine_requests_per_install"] = sum((api.stats - before).values()) / releases
            before = collections.Counter(api.stats)
            seconds = await _timed(
                [
                    helm_engine.upgrade(request(requests.UpgradeRequest, i, greeting="bye"))
                    for i in range(releases)
                ],
                concurrency,
            )
            figures["engine_upgrades_per_s"] = releases / seconds
            figures["engine_requests_per_upgrade"] = sum((api.stats - before).values()) / releases

        def sdk_install(index: int) -> None:
            with helm.Config(kubeconfig_path=cluster.kubeconfig, namespace="sdk") as config:
                config.install(chart, f"r{index:04d}", wait="watcher", timeout=120)

        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(sdk_install, range(releases)))
        figures["sdk_installs_per_s"] = releases / (time.perf_counter() - started)
        figures["rss_mib"] = _rss_mib()
    return figures


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    figures = asyncio.run(main(args.releases, args.concurrency))
    for name, value in figures.items():
        print(f"{name} {value:.2f}")


if __name__ == "__main__":
    cli()
