"""Benchmark of the notification-controller's event intake (not a test; prints figures).

Starts a devcluster with the CRDs, 10 generic Providers (all answering at once
from one local server, a path each) and 50 Alerts (Alert i takes the events of
Kustomization ``app-<i>`` through Provider ``i % 10``, with an inclusion and an
exclusion expression), then the notification-controller as a process
(``--log-level=error``). Figures:

1. ``events_accepted_per_s``: 32 concurrent clients POST distinct events (each
   matches one Alert) for ``--seconds``; events answered 202 per second
   (target >= 2,000/s);
2. ``intake_to_provider_p50_ms``/``_p99_ms``: one event at a time, from just
   before the POST (a stamp in the event's metadata) to the provider
   receiving the notification (target p99 < 100 ms);
   ``loaded_intake_to_provider_p99_ms`` is the same during phase 1.

The providers answer from a process of their own, so the load generator and
they do not share a CPU; ``controller_cpu_ms_per_event`` is the controller's
CPU time per accepted event, the figure that does not depend on how busy the
machine is.

Usage: python -m bench.notification_bench [--seconds 5] [--latency-events 500]
Every process it starts is stopped by PID at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing
import pathlib
import tempfile
import time
from typing import Any

import aiohttp
from aiohttp import web

from bench import devcluster_bench
from shared.api import kustomize, notification
from shared.runtime import events
from tests.fixtures import devcluster as devcluster_fixtures
from tests.fixtures import processes
from tests.fixtures.polling import eventually

NAMESPACE = "bench"
PROVIDERS = 10
ALERTS = 50
CLIENTS = 32
JSON = {"Content-Type": "application/json"}
CRDS = pathlib.Path(__file__).resolve().parents[1] / "crds"


class Sink:
    """The providers, in a process of their own: each notification's latency from its stamp.

    The event's ``sent`` metadata is ``time.perf_counter()`` in the load
    generator (CLOCK_MONOTONIC, the same clock in every process on Linux).
    """

    def __init__(self) -> None:
        self.latencies: dict[str, float] = {}

    async def handle(self, request: web.Request) -> web.Response:
        arrived = time.perf_counter()
        body = await request.json()
        self.latencies[body["message"]] = (arrived - float(body["metadata"]["sent"])) * 1000
        return web.Response(status=200)

    async def report(self, request: web.Request) -> web.Response:
        return web.json_response(self.latencies)


def _serve_sink(port: int) -> None:
    sink = Sink()
    app = web.Application()
    app.router.add_post("/{provider}", sink.handle)
    app.router.add_get("/latencies", sink.report)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def _manifests(sink_url: str) -> list[dict[str, Any]]:
    manifests: list[dict[str, Any]] = [
        {
            "apiVersion": notification.PROVIDER_API_VERSION,
            "kind": "Provider",
            "metadata": {"name": f"p{i}", "namespace": NAMESPACE},
            "spec": {"type": "generic", "address": f"{sink_url}/p{i}"},
        }
        for i in range(PROVIDERS)
    ]
    manifests += [
        {
            "apiVersion": notification.ALERT_API_VERSION,
            "kind": "Alert",
            "metadata": {"name": f"a{i}", "namespace": NAMESPACE},
            "spec": {
                "providerRef": {"name": f"p{i % PROVIDERS}"},
                "eventSources": [{"kind": "Kustomization", "name": f"app-{i}"}],
                "inclusionList": ["^event "],
                "exclusionList": ["ignored$"],
            },
        }
        for i in range(ALERTS)
    ]
    return manifests


def _event(serial: int) -> bytes:
    obj = {
        "apiVersion": kustomize.API_VERSION,
        "kind": "Kustomization",
        "metadata": {"name": f"app-{serial % ALERTS}", "namespace": NAMESPACE, "uid": "u"},
    }
    body = events.flux_event(
        obj,
        severity="info",
        reason="ReconciliationSucceeded",
        message=f"event {serial}",
        metadata={"revision": f"main@sha1:{serial:040x}", "sent": repr(time.perf_counter())},
        controller="kustomize-controller",
        instance="bench",
        timestamp="2026-12-06T00:00:00Z",
    )
    return json.dumps(body).encode()


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


async def _latencies(sink_url: str, messages: set[str]) -> list[float]:
    """The latencies of ``messages`` once the sink has every one of them."""
    found: dict[str, float] = {}

    async def complete() -> bool:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{sink_url}/latencies") as response,
        ):
            found.update(await response.json())
        return messages <= set(found)

    await eventually(complete, within=120, interval=0.5)
    return [found[m] for m in messages]


async def _throughput(
    url: str, sink_url: str, seconds: float, pid: int, sink_pid: int
) -> dict[str, Any]:
    serials = itertools.count(1_000_000)
    messages: set[str] = set()
    accepted = 0
    deadline = time.perf_counter() + seconds

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal accepted
        while time.perf_counter() < deadline:
            serial = next(serials)
            messages.add(f"event {serial}")
            async with session.post(url, data=_event(serial), headers=JSON) as response:
                accepted += response.status == 202

    cpu = devcluster_bench.cpu_seconds(pid)
    sink_cpu = devcluster_bench.cpu_seconds(sink_pid)
    client_cpu = time.process_time()
    started = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=CLIENTS)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(client(session) for _ in range(CLIENTS)))
    elapsed = time.perf_counter() - started
    client_cpu = time.process_time() - client_cpu
    latencies = await _latencies(sink_url, messages)
    cpu = devcluster_bench.cpu_seconds(pid) - cpu
    sink_cpu = devcluster_bench.cpu_seconds(sink_pid) - sink_cpu
    return {
        "events_accepted_per_s": round(accepted / elapsed),
        "events_accepted": accepted,
        # What one core allows once the load generator takes none of it.
        "controller_cpu_ms_per_event": round(cpu * 1000 / max(accepted, 1), 3),
        # The load generator and the providers share the machine's cores with it.
        "load_generator_cpu_ms_per_event": round(client_cpu * 1000 / max(accepted, 1), 3),
        "providers_cpu_ms_per_event": round(sink_cpu * 1000 / max(accepted, 1), 3),
        "loaded_intake_to_provider_p99_ms": round(_percentile(latencies, 0.99), 1),
    }


async def _latency(url: str, sink_url: str, count: int) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        for serial in range(count):
            async with session.post(url, data=_event(serial), headers=JSON) as response:
                assert response.status == 202, response.status
    latencies = await _latencies(sink_url, {f"event {serial}" for serial in range(count)})
    return {
        "intake_to_provider_p50_ms": round(_percentile(latencies, 0.5), 2),
        "intake_to_provider_p99_ms": round(_percentile(latencies, 0.99), 2),
    }


async def main(seconds: float, latency_events: int) -> dict[str, Any]:
    port = devcluster_fixtures.free_port()
    sink_url = f"http://127.0.0.1:{port}"
    sink = multiprocessing.get_context("spawn").Process(target=_serve_sink, args=(port,))
    sink.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            directory = pathlib.Path(tmp)
            with devcluster_fixtures.start_devcluster(directory) as cluster:
                cluster.kubectl("apply", "--server-side", "-f", str(CRDS))
                cluster.kubectl(
                    "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"
                )
                cluster.kubectl("create", "namespace", NAMESPACE)
                manifests = {"apiVersion": "v1", "kind": "List", "items": _manifests(sink_url)}
                cluster.kubectl("apply", "-f", "-", input=json.dumps(manifests))
                addr = f"127.0.0.1:{devcluster_fixtures.free_port()}"
                with processes.start_controller(
                    "controllers.notification",
                    ["--kubeconfig", str(cluster.kubeconfig), "--events-addr", addr,
                     "--log-level", "error"],
                    log=directory / "notification-controller.log",
                    env={"RUNTIME_NAMESPACE": NAMESPACE},
                ) as controller:  # fmt: skip
                    url = f"http://{addr}/"
                    figures = await _latency(url, sink_url, latency_events)
                    figures.update(
                        await _throughput(
                            url, sink_url, seconds, controller.process.pid, sink.pid or 0
                        )
                    )
    finally:
        sink.terminate()  # SIGTERM to the sink's own PID
        sink.join(timeout=10)
    return figures


TARGETS = {
    "events_accepted_per_s": ">= 2000",
    "intake_to_provider_p99_ms": "< 100",
}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--latency-events", type=int, default=500)
    args = parser.parse_args()
    results = asyncio.run(main(args.seconds, args.latency_events))
    for name, value in results.items():
        target = TARGETS.get(name)
        print(f"{name:40} {value}" + (f"   (target {target})" if target else ""))
