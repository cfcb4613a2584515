"""The in-process controller manager: simulated kubelet and infrastructure, GC.

The server starts ``run`` as a background task once it accepts requests and
sets ``stop`` on shutdown. Both controllers are HTTP clients of the server's own
API (base URL and bearer token), so they exercise the same paths as any client.
While ``run`` is active the server must treat deletion as a collector-backed
cluster does (``Cluster.collector_running = True``): Foreground/Orphan add
their finalizers and Terminating namespaces wait for ``/finalize``.
"""

from __future__ import annotations

import asyncio
import ssl as ssl_module
from typing import Any

import aiohttp
import structlog

from headwater.devcluster import apiclient, collector, infrastructure, kubelet

DEFAULT_SIMULATE_DELAY = 0.2

_log = structlog.get_logger("devcluster.controllermanager")


async def run(
    *,
    base_url: str,
    token: str | None,
    ssl: ssl_module.SSLContext | bool | None = None,
    simulate_delay: float = DEFAULT_SIMULATE_DELAY,
    stop: asyncio.Event,
) -> None:
    """Run the kubelet simulation and the collector until ``stop`` is set."""
    connector = aiohttp.TCPConnector(limit=0, ssl=apiclient.ssl_context(ssl))
    async with aiohttp.ClientSession(connector=connector) as session:
        client = apiclient.Client(
            session, base_url=base_url, token=token, field_manager="kube-controller-manager"
        )
        infra = infrastructure.Infrastructure(client, delay=simulate_delay)
        simulator = kubelet.Kubelet(
            client,
            delay=simulate_delay,
            claims=infra.informers[infrastructure.CLAIMS.plural].cache,
        )
        # The collector shares the other controllers' watches.
        shared = {
            (i.gvr.group, i.gvr.plural): i
            for i in [*simulator.informers.values(), *infra.informers.values()]
        }
        parts = {
            "kubelet": simulator.run(stop),
            "infrastructure": infra.run(stop),
            "collector": collector.Collector(client, shared=shared).run(stop),
        }
        tasks: dict[asyncio.Future[Any], str] = {
            asyncio.ensure_future(coro): name for name, coro in parts.items()
        }
        try:
            done, _ = await asyncio.wait(
                [*tasks, asyncio.create_task(stop.wait())],
                return_when=asyncio.FIRST_COMPLETED,
            )
            for task in done:
                if task in tasks and not stop.is_set():
                    # A controller must never end on its own; say so loudly.
                    _log.error(
                        "controller.exited", controller=tasks[task], error=repr(task.exception())
                    )
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
