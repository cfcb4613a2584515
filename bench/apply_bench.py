"""Benchmark of the resource manager vs ``kubectl apply --server-side`` (not a test).

Figures, for the same N objects (ConfigMaps, Secrets, Services, Deployments)
applied into one devcluster in one run, each tool into its own namespace so
both do a first apply:
1. ``first_apply_ratio``: the resource manager's wall time (client set-up,
   discovery, watch-cache sync and the staged apply) over kubectl's wall time
   (process start included; kubectl sends one PATCH per object, one at a
   time) — target <= 0.5;
2. ``noop_requests_per_object``: API requests of a second, unchanged apply
   divided by N — target 0 (Flux pays a GET plus a dry-run apply per object);
3. ``drift``: after kubectl edits K objects, the writes the next reconcile
   makes (target K) and the drifted objects it reports.
The client rate limit is the controllers' default (QPS 50, burst 300) unless
``--qps`` says otherwise; kubectl runs with its own defaults.

Usage: python -m bench.apply_bench [--objects 1000] [--qps 50] [--burst 300]
It starts its own devcluster on 127.0.0.1 and stops it by PID at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import functools
import json
import pathlib
import tempfile
import time
from typing import Any

from shared.kube import applying, client, resourcemanager, resources
from shared.runtime import informers
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures.polling import eventually
from tests.kube import caches

OWNER = resourcemanager.Owner(name="bench", namespace="flux-system")
DRIFTED = 10


def _objects(namespace: str, count: int) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    ]
    for index in range(count - 1):
        name = f"obj-{index:04d}"
        metadata = {"name": name, "namespace": namespace, "labels": {"app": name}}
        match index % 5:
            case 0 | 1:
                objects.append(
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": metadata,
                        "data": {"index": str(index), "payload": "x" * 200},
                    }
                )
            case 2:
                objects.append(
                    {
                        "apiVersion": "v1",
                        "kind": "Secret",
                        "metadata": metadata,
                        "type": "Opaque",
                        "stringData": {"token": f"secret-{index}"},
                    }
                )
            case 3:
                objects.append(
                    {
                        "apiVersion": "v1",
                        "kind": "Service",
                        "metadata": metadata,
                        "spec": {
                            "selector": {"app": name},
                            "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
                        },
                    }
                )
            case _:
                objects.append(
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "metadata": metadata,
                        "spec": {
                            "replicas": 1,
                            "selector": {"matchLabels": {"app": name}},
                            "template": {
                                "metadata": {"labels": {"app": name}},
                                "spec": {
                                    "containers": [
                                        {
                                            "name": "app",
                                            "image": "nginx:1.27",
                                            "ports": [{"containerPort": 8080}],
                                        }
                                    ]
                                },
                            },
                        },
                    }
                )
    return objects


def _kubectl_apply(cluster: devcluster_fixtures.Devcluster, objects: list[dict[str, Any]]) -> float:
    manifest = "\n---\n".join(json.dumps(obj) for obj in objects)
    started = time.perf_counter()
    cluster.kubectl("apply", "--server-side", "-f", "-", input=manifest, timeout=1800)
    return time.perf_counter() - started


def _cached(live: caches.InformerCaches, obj: dict[str, Any]) -> bool:
    metadata = obj["metadata"]
    key = (
        f"{metadata['namespace']}/{metadata['name']}"
        if "namespace" in metadata
        else metadata["name"]
    )
    return live.informer(obj["apiVersion"], obj["kind"]).get(key) is not None


def _edited(informer: informers.Informer, key: str) -> bool:
    return bool((informer.get(key) or {}).get("data", {}).get("index") == "edited")


async def _manager_apply(
    cluster: devcluster_fixtures.Devcluster,
    objects: list[dict[str, Any]],
    *,
    qps: float,
    burst: int,
) -> dict[str, Any]:
    started = time.perf_counter()
    async with client.connected(kubeconfig=str(cluster.kubeconfig), qps=qps, burst=burst) as api:
        discovery = resources.Discovery(api)
        live = caches.InformerCaches(api=api, discovery=discovery)
        manager = resourcemanager.ResourceManager(
            objects=applying.Objects(api=api, discovery=discovery), live=live
        )
        try:
            first = await manager.apply_all(objects, owner=OWNER)
            first_seconds = time.perf_counter() - started
            first_requests = sum(api.stats.values())

            # Let the watches deliver every write, then reconcile the same objects.
            for obj in objects:
                await eventually(functools.partial(_cached, live, obj), within=60)
            before = collections.Counter(api.stats)
            noop_started = time.perf_counter()
            noop = await manager.apply_all(objects, owner=OWNER)
            noop_seconds = time.perf_counter() - noop_started
            noop_requests = sum((api.stats - before).values())

            configmaps = [o for o in objects if o["kind"] == "ConfigMap"][:DRIFTED]
            namespace = configmaps[0]["metadata"]["namespace"]
            for obj in configmaps:
                cluster.kubectl(
                    "patch",
                    "configmap",
                    obj["metadata"]["name"],
                    "-n",
                    namespace,
                    "--type=merge",
                    "-p",
                    '{"data": {"index": "edited"}}',
                )
            informer = live.informer("v1", "ConfigMap")
            for obj in configmaps:
                key = f"{namespace}/{obj['metadata']['name']}"
                await eventually(functools.partial(_edited, informer, key), within=60)
            before = collections.Counter(api.stats)
            corrected = await manager.apply_all(objects, owner=OWNER)
            drift_requests = api.stats - before
        finally:
            await live.close()
    return {
        "seconds": round(first_seconds, 3),
        "requests": first_requests,
        "created": sum(1 for c in first.changes if c.action == resourcemanager.Action.CREATED),
        "noop_seconds": round(noop_seconds, 3),
        "noop_requests": noop_requests,
        "noop_unchanged": sum(
            1 for c in noop.changes if c.action == resourcemanager.Action.UNCHANGED
        ),
        "drift_edits": DRIFTED,
        "drift_requests": dict(drift_requests),
        "drift_reported": sorted(f"{c} {list(c.fields)}" for c in corrected.drifted())[:3],
        "drift_reported_count": len(corrected.drifted()),
    }


async def main(count: int, *, qps: float, burst: int) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        devcluster_fixtures.start_devcluster(pathlib.Path(tmp)) as cluster,
    ):
        kubectl_seconds = _kubectl_apply(cluster, _objects("bench-kubectl", count))
        ours = await _manager_apply(cluster, _objects("bench-manager", count), qps=qps, burst=burst)
    return {
        "objects": count,
        "qps": qps,
        "burst": burst,
        "kubectl_seconds": round(kubectl_seconds, 3),
        "manager": ours,
        "first_apply_ratio": round(ours["seconds"] / kubectl_seconds, 3),
        "noop_requests_per_object": ours["noop_requests"] / count,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--qps", type=float, default=50.0)
    parser.add_argument("--burst", type=int, default=300)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.objects, qps=args.qps, burst=args.burst)), indent=2))
