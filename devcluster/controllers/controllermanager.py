"""The controller manager: simulated kubelet, infrastructure and HPA, garbage collector.

``python -m devcluster.controllers.controllermanager`` is a child process of
the server (see ``controllerprocess`` for the command line, the token on
stdin and the lifecycle), as kube-controller-manager runs beside
kube-apiserver. The controllers are HTTP clients of the server's API (base URL
and bearer token), so they exercise the same paths as any client. While the
server runs them it treats deletion as a collector-backed cluster does
(``Cluster.collector_running = True``): Foreground/Orphan add their
finalizers and Terminating namespaces wait for ``/finalize``.

The process exits 0 on SIGTERM/SIGINT or when its stdin reaches EOF (the
server is gone), and 1 if a controller ends on its own, which must never
happen: the server then starts a fresh process.
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import signal
import ssl as ssl_module
import sys
from typing import Any

import aiohttp
import structlog

from devcluster.controllers import (
    apiclient,
    collector,
    controllerprocess,
    hpa,
    infrastructure,
    kubelet,
)
from devcluster.machinery import logs

DEFAULT_SIMULATE_DELAY = 0.2

_log = structlog.get_logger("devcluster.controllers.controllermanager")


class ControllerExitedError(Exception):
    """A controller ended although nothing asked it to stop."""


async def run(
    *,
    base_url: str,
    token: str | None,
    ssl: ssl_module.SSLContext | bool | None = None,
    simulate_delay: float = DEFAULT_SIMULATE_DELAY,
    stop: asyncio.Event,
) -> None:
    """Run the kubelet simulation and the collector until ``stop`` is set.

    Raises ``ControllerExitedError`` (after stopping the others) if one ends first.
    """
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
            "autoscaler": hpa.Autoscaler(client).run(stop),
        }
        tasks: dict[asyncio.Future[Any], str] = {
            asyncio.ensure_future(coro): name for name, coro in parts.items()
        }
        stopping = asyncio.ensure_future(stop.wait())
        try:
            done, _ = await asyncio.wait([*tasks, stopping], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task in tasks and not stop.is_set():
                    error = None if task.cancelled() else task.exception()
                    _log.error("controller.exited", controller=tasks[task], error=repr(error))
                    raise ControllerExitedError(tasks[task]) from error
        finally:
            stopping.cancel()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=f"python -m {controllerprocess.MODULE}",
        description="Run the devcluster's simulated controllers against its API "
        "(started by the server; reads the bearer token as the first line of stdin).",
    )
    parser.add_argument("--server", required=True, help="base URL of the API server")
    parser.add_argument(
        "--ca-file", type=pathlib.Path, default=None, help="CA certificate of an HTTPS server"
    )
    parser.add_argument(
        "--simulate-delay",
        type=float,
        default=DEFAULT_SIMULATE_DELAY,
        help="seconds until simulated workloads are ready",
    )
    return parser.parse_args(argv)


async def _main(args: argparse.Namespace, *, token: str | None) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    def orphaned() -> None:
        _log.warning("controllermanager.orphaned", reason="the server closed its pipe")
        stop.set()

    controllerprocess.watch_for_eof(sys.stdin.fileno(), on_eof=orphaned)
    client_ssl: ssl_module.SSLContext | bool = False
    if args.ca_file is not None:
        client_ssl = ssl_module.create_default_context(cafile=str(args.ca_file))
    try:
        await run(
            base_url=args.server,
            token=token,
            ssl=client_ssl,
            simulate_delay=args.simulate_delay,
            stop=stop,
        )
    except ControllerExitedError:
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logs.configure()
    try:
        token = controllerprocess.read_token(sys.stdin.fileno())
    except EOFError:
        _log.warning("controllermanager.orphaned", reason="the server closed its pipe")
        return 0
    return asyncio.run(_main(args, token=token))


if __name__ == "__main__":
    sys.exit(main())
