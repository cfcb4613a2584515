"""Benchmark of the shared controller runtime (not a test; prints figures).

Figures:
1. no-op reconciles per second through the work queue with 4 workers, and the
   API calls each one costs (target: 0) — every Widget is Ready and unchanged,
   and every key is re-enqueued, so each pass is a pure no-op reconcile;
2. informer memory per 1,000 cached objects (tracemalloc of the cache fill).

Usage: python -m bench.runtime_bench [--objects 1000] [--seconds 5]
It starts its own devcluster on 127.0.0.1 and stops it by PID at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import tempfile
import time
import tracemalloc
from typing import Any

from shared.api import crdgen
from shared.kube import client, resources
from shared.runtime import informers, manager, options
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures.polling import eventually
from tests.runtime import widgets

NAMESPACE = "bench"


async def _fill(api: client.Client, count: int) -> None:
    path = f"/apis/test.headwater.dev/v1/namespaces/{NAMESPACE}/widgets"
    for start in range(0, count, 100):
        await asyncio.gather(
            *(
                api.request(
                    "POST",
                    path,
                    body={
                        "apiVersion": "test.headwater.dev/v1",
                        "kind": "Widget",
                        "metadata": {"name": f"w{i}", "labels": {"app": "bench", "index": str(i)}},
                        "spec": {"interval": "1h", "message": f"widget number {i}"},
                    },
                )
                for i in range(start, min(count, start + 100))
            )
        )


_last_calls: list[int] = []


def _settled(api: client.Client, _: int) -> bool:
    total = sum(api.stats.values())
    _last_calls.append(total)
    return len(_last_calls) >= 2 and _last_calls[-1] == _last_calls[-2]


async def _noop_rate(api: client.Client, count: int, seconds: float) -> dict[str, Any]:
    reconciler = widgets.WidgetReconciler()
    opts = options.Options(
        concurrent=4,
        metrics_addr=f"127.0.0.1:{devcluster_fixtures.free_port()}",
        health_addr=f"127.0.0.1:{devcluster_fixtures.free_port()}",
        watch_all_namespaces=False,
        runtime_namespace=NAMESPACE,
        kube_api_qps=0,
    )
    mgr = manager.Manager(name="bench", opts=opts, api=api)
    ctl = await mgr.add_controller(reconciler)
    task = asyncio.create_task(mgr.run())
    await eventually(
        lambda: sum(1 for v in reconciler.reconciles.values() if v) >= count and not len(ctl.queue),
        within=600,
        interval=0.2,
    )
    calls = sum(api.stats.values())
    # Settled means: the last status patches landed and nothing more is written.
    await eventually(lambda: _settled(api, calls), within=60, interval=1.0)
    keys = [informers.key_of(o) for o in ctl.informer.objects()]
    calls_before = sum(api.stats.values())
    done_before = sum(reconciler.reconciles.values())
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for key in keys:
            ctl.enqueue(key)
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - started
    done = sum(reconciler.reconciles.values()) - done_before
    calls = sum(api.stats.values()) - calls_before
    mgr.stop()
    await task
    return {
        "noop_reconciles_per_second": round(done / elapsed, 1),
        "api_calls_per_noop_reconcile": round(calls / max(done, 1), 4),
        "noop_reconciles": done,
    }


async def _informer_memory(api: client.Client, count: int) -> dict[str, Any]:
    resource = await resources.Discovery(api).resolve("test.headwater.dev/v1", "Widget")
    informer = informers.Informer(
        api=api, resource=resource, scope=informers.Scope(namespace=NAMESPACE)
    )
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    task = asyncio.create_task(informer.run())
    await informer.wait_synced()
    after = tracemalloc.take_snapshot()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    tracemalloc.stop()
    return {
        "cached_objects": len(informer),
        "informer_bytes_per_1000_objects": round(grown / len(informer) * 1000),
    }


async def main(count: int, seconds: float) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        devcluster_fixtures.start_devcluster(pathlib.Path(tmp)) as cluster,
    ):
        cluster.kubectl(
            "apply", "--server-side", "-f", "-", input=json.dumps(crdgen.crd_for(widgets.Widget))
        )
        cluster.kubectl("wait", "--for=condition=Established", "crd/widgets.test.headwater.dev")
        cluster.kubectl("create", "namespace", NAMESPACE)
        async with client.connected(kubeconfig=str(cluster.kubeconfig), qps=0) as api:
            await _fill(api, count)
            figures = await _noop_rate(api, count, seconds)
            figures.update(await _informer_memory(api, count))
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.objects, args.seconds)), indent=2))
